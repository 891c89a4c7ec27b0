"""A near miss by nationality: "Which French general …" against a sentence about a German one,
"Who is Russia's defence minister?" against "US Secretary of Defense Lloyd Austin". The reader was
trained on questions whose qualifiers always match, so it scores such a sentence as an answer.

Closed-class on purpose, like qa.read.qualifiers: a country or its people's name qualifies the
thing asked for only where it follows the question word ("which French general", "how many North
Korean soldiers", "who is Russia's …"), and the answer differs only where the words around the
answer the reader marked name another country and never the one asked about.
"""

from __future__ import annotations

import re

# Each country once: its names and its people's, as they qualify a noun, and for a few the capital
# or seat of government news names them by. The states news writes about most, and the United
# States and Britain in their many spellings.
_COUNTRIES = """
afghanistan: afghanistan, afghan, afghans
albania: albania, albanian, albanians
algeria: algeria, algerian, algerians
argentina: argentina, argentine, argentinian, argentinians, argentines
armenia: armenia, armenian, armenians
australia: australia, australian, australians
austria: austria, austrian, austrians
azerbaijan: azerbaijan, azerbaijani, azerbaijanis
bangladesh: bangladesh, bangladeshi, bangladeshis
belarus: belarus, belarusian, belarusians
belgium: belgium, belgian, belgians
bolivia: bolivia, bolivian, bolivians
brazil: brazil, brazilian, brazilians
bulgaria: bulgaria, bulgarian, bulgarians
cambodia: cambodia, cambodian, cambodians
canada: canada, canadian, canadians
chile: chile, chilean, chileans
china: china, chinese, prc
colombia: colombia, colombian, colombians
croatia: croatia, croatian, croatians, croat, croats
cuba: cuba, cuban, cubans
czechia: czechia, czech republic, czech, czechs
denmark: denmark, danish, dane, danes
egypt: egypt, egyptian, egyptians
estonia: estonia, estonian, estonians
ethiopia: ethiopia, ethiopian, ethiopians
finland: finland, finnish, finns
france: france, french, frenchman, frenchmen
georgia-country: georgian, georgians
germany: germany, german, germans
greece: greece, greek, greeks
hungary: hungary, hungarian, hungarians
india: india, indian, indians
indonesia: indonesia, indonesian, indonesians
iran: iran, iranian, iranians, persian
iraq: iraq, iraqi, iraqis
ireland: ireland, irish
israel: israel, israeli, israelis
italy: italy, italian, italians
japan: japan, japanese
jordan: jordanian, jordanians
kazakhstan: kazakhstan, kazakh, kazakhs
kenya: kenya, kenyan, kenyans
latvia: latvia, latvian, latvians
lebanon: lebanon, lebanese
libya: libya, libyan, libyans
lithuania: lithuania, lithuanian, lithuanians
malaysia: malaysia, malaysian, malaysians
mexico: mexico, mexican, mexicans
moldova: moldova, moldovan, moldovans
mongolia: mongolia, mongolian, mongolians
morocco: morocco, moroccan, moroccans
myanmar: myanmar, burma, burmese
netherlands: netherlands, holland, dutch
new-zealand: new zealand, new zealander, new zealanders
nigeria: nigeria, nigerian, nigerians
north-korea: north korea, north korean, north koreans, dprk, pyongyang
norway: norway, norwegian, norwegians
pakistan: pakistan, pakistani, pakistanis
palestine: palestine, palestinian, palestinians
peru: peru, peruvian, peruvians
philippines: philippines, philippine, filipino, filipinos
poland: poland, polish
portugal: portugal, portuguese
romania: romania, romanian, romanians
russia: russia, russian, russians, russian federation, kremlin, moscow
saudi-arabia: saudi arabia, saudi, saudis
serbia: serbia, serbian, serbians, serb, serbs
singapore: singapore, singaporean, singaporeans
slovakia: slovakia, slovak, slovaks
slovenia: slovenia, slovenian, slovenians, slovene, slovenes
south-africa: south africa, south african, south africans
south-korea: south korea, south korean, south koreans, seoul
spain: spain, spanish, spaniard, spaniards
sudan: sudan, sudanese
sweden: sweden, swedish, swede, swedes
switzerland: switzerland, swiss
syria: syria, syrian, syrians
taiwan: taiwan, taiwanese
thailand: thailand, thai, thais
turkey: turkey, turkish, turk, turks, türkiye
ukraine: ukraine, ukrainian, ukrainians, kyiv, kiev
united-kingdom: united kingdom, uk, u.k., britain, great britain, british, briton, britons, england, scotland, scottish, wales, welsh
united-states: united states, united states of america, us, u.s., u.s.a., usa, america, american, americans, washington, pentagon
venezuela: venezuela, venezuelan, venezuelans
vietnam: vietnam, vietnamese
yemen: yemen, yemeni, yemenis
latin-america: latin america, latin american, latin americans, south america, south american, south americans, central america, central american
north-america: north america, north american, north americans
"""
COUNTRY_OF: dict[str, str] = {name: key for line in _COUNTRIES.strip().splitlines()
                              for key, names in [line.split(":")] for name in map(str.strip, names.split(","))}
# Longest first, so that "North Korean" is read before "Korean" could be; "US" only in capitals
# (never the pronoun), and a name not run into a longer word.
_NAMES = sorted(COUNTRY_OF, key=len, reverse=True)
_MENTION = re.compile(r"(?<![\w.])(?:" + "|".join(re.escape(n) for n in _NAMES) + r")(?![\w])(?:['’]s)?",
                      re.IGNORECASE)
# The country right after the question word qualifies what is asked: "which French general",
# "how many North Korean troops", "what Russian city", "who is Russia's defence minister".
_ASKED = re.compile(r"\b(?:which|what|how many|how much|whose|who(?:'s|’s| is| was| are| were)(?: the)?)\s+"
                    r"(?:of the\s+)?(?=\S)", re.IGNORECASE)
# "What French word …" asks in a language, which the answer's words may name in another.
_LANGUAGE_THING = re.compile(r"\s+(?:words?|terms?|names?|language|translations?|phrases?|titles?|spellings?|"
                             r"versions?|editions?|texts?|expressions?|sayings?|speakers?)\b", re.IGNORECASE)
AROUND_WORDS = 4  # the words either side of the marked answer that say whose it is


def mentions(text: str) -> list[tuple[int, int, str]]:
    """Each country or people named in `text`: (start, end, the country's key)."""
    found = []
    for m in _MENTION.finditer(text):
        name = re.sub(r"['’]s$", "", m.group(0))
        if name.lower() == "us" and name != "US":  # the pronoun
            continue
        found.append((m.start(), m.end(), COUNTRY_OF[name.lower()]))
    return found


def asked_country(question: str) -> tuple[str, str] | None:
    """(key, as typed) of the country that qualifies what the question asks for, if one does; not
    a language ("What French word …"), which the answer's words may give in another."""
    for m in _ASKED.finditer(question):
        for start, end, key in mentions(question[m.end():m.end() + 40]):
            if start == 0 and not _LANGUAGE_THING.match(question, m.end() + end):
                return key, question[m.end():m.end() + end]
    return None



def _around(quote: str, start: int, end: int) -> str:
    """The marked answer with up to AROUND_WORDS words either side of it, inside the quote."""
    before = quote[:start].split()[-AROUND_WORDS:]
    after = quote[end:].split()[:AROUND_WORDS]
    return " ".join(before + [quote[start:end]] + after)


def country_conflict(question: str, quote: str, answer_start: int, answer_end: int) -> str | None:
    """Why the quote answers about another country than the one asked about, or None: the words
    around its marked answer (`quote[answer_start:answer_end]`) name another and not that one."""
    asked = asked_country(question)
    if not asked or answer_end <= answer_start:
        return None
    named = {key for _, _, key in mentions(_around(quote, answer_start, answer_end))}
    if not named or asked[0] in named:
        return None
    return f"is about another country than “{asked[1]}”"
