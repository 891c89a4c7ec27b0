"""The served web app: many users at once, hostile clients."""
