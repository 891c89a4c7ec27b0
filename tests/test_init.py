"""`import qa`: the library's public names, imported on first use (never torch or Gradio at once)."""

import subprocess
import sys

import qa


def test_import_qa_loads_neither_torch_nor_gradio():
    code = ("import sys, qa; qa.Settings(); qa.load; qa.evaluate_question_set; "
            "print(sorted(m for m in ('torch', 'gradio', 'sentence_transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_every_public_name_resolves():
    for name in qa.__all__:
        assert getattr(qa, name) is not None, name


def test_the_readme_example_answers_with_a_citation(local_index, settings, model):
    pipeline = qa.load(settings, model)
    answer = pipeline.ask("When did Russia invade Ukraine?")
    assert not answer.abstained and "2022" in answer.text
    citation = answer.citations[0]
    document = pipeline.retriever.backend.document_by_source(citation.source)
    assert document.text[citation.start:citation.end] == citation.quote
    assert pipeline.search("Wagner mercenary group", k=3)[0].chunk.source == "003_5763b751aeba3d4f.txt"
