import json
import math
from pathlib import Path

import pytest

from conftest import DEV_SET
from qa.read.answer import Answer, Citation, Quote
from qa.ingest.chunking import Chunk
from qa.app.cli import main
from qa.evaluation.evaluate import (EvalReport, Question, QuestionResult, answer_rank, contains_answer, document_score,
                         evaluate_question_set, hit_rate, load_beir, load_question_set,
                         mean_reciprocal_rank, question_set_metrics, rank_documents, read_run,
                         retrieval_metrics, span_matches)
from qa.retrieve import Hit

BEIR_SAMPLE = Path(__file__).parent / "data" / "beir-sample"
PNG = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- metrics on literals


def test_answers_match_case_insensitively_with_white_space_folded():
    assert contains_answer("Some  12,000\nNorth Korean troops", ["12,000 north korean"])
    assert contains_answer("led by LLOYD Austin", ["Charles Flynn", "lloyd austin"])
    assert not contains_answer("twelve thousand troops", ["12,000"])
    assert answer_rank(["nothing here", "still nothing", "the Wagner group"], ["wagner"]) == 3
    assert answer_rank(["nothing here"], ["wagner"]) is None


def test_hit_rate_and_mrr_count_misses_and_ranks_past_k_as_zero():
    ranks = [1, 3, None, 12]
    assert hit_rate(ranks, 1) == 0.25
    assert hit_rate(ranks, 3) == 0.5
    assert hit_rate(ranks, 10) == 0.5
    assert mean_reciprocal_rank(ranks, 10) == pytest.approx((1 + 1 / 3) / 4)
    assert mean_reciprocal_rank(ranks, 20) == pytest.approx((1 + 1 / 3 + 1 / 12) / 4)


def _citation(n: int, passage: str) -> Citation:
    return Citation(n=n, source="doc.txt", title="Doc", paragraph=1, page=None, start=0,
                    end=len(passage), quote=passage, passage=passage, passage_start=0,
                    passage_end=len(passage), score=0.5, answer_start=0, answer_end=len(passage))


def _result(answers: tuple[str, ...], passages: list[str], abstained: bool, unsure: bool = False) -> QuestionResult:
    citations = tuple(_citation(n, p) for n, p in enumerate(passages, start=1))
    quotes = () if abstained else (Quote(citations[0].quote, 1),)
    answer = Answer("q?", abstained, quotes, citations, "hybrid", unsure=unsure)
    rank = answer_rank(passages, answers) if answers else None
    return QuestionResult(Question("q", "q?", answers), "hybrid", answer, rank, seconds=0.5)


def test_question_set_metrics_score_answers_and_abstentions_separately():
    results = [
        _result(("Paris",), ["Paris is the capital."], abstained=False),  # rank 1, quote holds it
        _result(("Lyon",), ["Not here.", "Lyon, by the river."], abstained=False),  # rank 2
        _result(("Nice",), ["Nice is sunny."], abstained=True),  # found, but abstained: a miss
        _result((), ["Something near."], abstained=True),  # off-topic, rightly abstained
        _result((), ["Something near."], abstained=False, unsure=True),  # off-topic, wrongly answered, unsure
    ]
    m = question_set_metrics(results, k=10)
    assert m["hit@1"] == pytest.approx(1 / 3)
    assert m["hit@3"] == pytest.approx(2 / 3)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 2) / 3)
    assert m["quote@1"] == pytest.approx(1 / 3)
    assert m["span@1"] == pytest.approx(1 / 3)  # "Paris is the capital.": the answer and 3 words more
    assert m["answered_answerable"] == pytest.approx(2 / 3)
    assert m["abstained_offtopic"] == 0.5
    assert m["abstention_accuracy"] == pytest.approx(3 / 5)
    assert m["answered_unsure"] == pytest.approx(1 / 3)  # of the 3 answers given
    assert m["questions_per_s"] == pytest.approx(2.0)
    assert "hit@10" not in question_set_metrics(results, k=5)  # cannot be measured with 5 citations
    assert [r.why() for r in results] == [
        "", "answer first in citation 2", "abstained; the answer was in citation 1", "",
        "answered, but the sources do not answer it"]


def test_span_at_1_wants_the_answer_and_at_most_a_few_more_words():
    assert span_matches("25,000 to 30,000", ["25,000 to 30,000"])
    assert span_matches("about 25,000  to 30,000 soldiers", ["25,000 to 30,000"])
    assert not span_matches("Russia recruits about 25,000 to 30,000 soldiers a month", ["25,000 to 30,000"])
    assert not span_matches("30,000", ["25,000 to 30,000"])


def test_chunk_hits_become_a_document_ranking_at_each_documents_best_chunk():
    def hit(source: str, rank: int) -> Hit:
        return Hit(Chunk(source, 0, 4, "text", 1), source, rank, 1.0 / rank)

    ranking = rank_documents([hit("a", 1), hit("b", 2), hit("a", 3), hit("c", 4), hit("b", 5)])
    assert [(d.id, d.rank, d.hit.rank) for d in ranking] == [("a", 1, 1), ("b", 2, 2), ("c", 3, 4)]
    assert [d.id for d in rank_documents([hit("a", 1), hit("b", 2), hit("c", 3)], depth=2)] == ["a", "b"]


def test_a_document_can_score_its_best_chunk_plus_a_share_of_the_rest():
    assert document_score([0.5, 0.3, 0.2]) == 0.5  # the default: the best chunk alone
    assert document_score([0.5, 0.3, 0.2], share=0.1) == pytest.approx(0.55)

    def hit(source: str, rank: int, score: float) -> Hit:
        return Hit(Chunk(source, 0, 4, "text", 1), source, rank, score)

    # b's two chunks each rank below a's one; with a share of the rest, b's second chunk lifts it.
    hits = [hit("a", 1, 0.9), hit("b", 2, 0.8), hit("b", 3, 0.7)]
    assert [d.id for d in rank_documents(hits)] == ["a", "b"]
    lifted = rank_documents(hits, share=0.25)
    assert [(d.id, d.rank, d.hit.rank) for d in lifted] == [("b", 1, 2), ("a", 2, 1)]
    assert lifted[0].score == pytest.approx(0.8 + 0.25 * 0.7)


# ---------------------------------------------------------------- ranx against hand-computed values

QRELS = {"q1": {"d1": 2, "d3": 1}, "q2": {"d5": 1}, "q3": {"d8": 1}, "q4": {"d9": 1}}
RUN = {"q1": {"d2": 0.9, "d1": 0.8, "d3": 0.7, "d4": 0.6},  # relevant at ranks 2 (gain 2) and 3 (gain 1)
       "q2": {"d6": 0.9, "d7": 0.8},  # relevant document not retrieved
       "q3": {"d8": 0.5}}  # q4: nothing retrieved at all, still counts (as 0)


def test_retrieval_metrics_match_hand_computed_values():
    q1_ndcg = (2 / math.log2(3) + 1 / math.log2(4)) / (2 / math.log2(2) + 1 / math.log2(3))
    q1_ap = (1 / 2 + 2 / 3) / 2
    got = retrieval_metrics(QRELS, RUN, ("ndcg@10", "recall@100", "mrr@10", "map", "recall@2"))
    assert got["ndcg@10"] == pytest.approx((q1_ndcg + 0 + 1 + 0) / 4)
    assert got["mrr@10"] == pytest.approx((1 / 2 + 0 + 1 + 0) / 4)
    assert got["map"] == pytest.approx((q1_ap + 0 + 1 + 0) / 4)
    assert got["recall@100"] == pytest.approx((1 + 0 + 1 + 0) / 4)
    assert got["recall@2"] == pytest.approx((1 / 2 + 0 + 1 + 0) / 4)
    assert q1_ndcg == pytest.approx(0.669672, abs=1e-6)  # 1.761860 / 2.630930


def test_retrieval_metrics_agree_with_ir_measures():
    import ir_measures
    from ir_measures import AP, RR, R, nDCG

    # trec_eval leaves out queries absent from the run, so compare on the ones the run has.
    qrels = {q: QRELS[q] for q in RUN}
    theirs = ir_measures.calc_aggregate([nDCG @ 10, RR @ 10, AP, R @ 100], qrels, RUN)
    ours = retrieval_metrics(qrels, RUN)
    assert ours["ndcg@10"] == pytest.approx(theirs[nDCG @ 10])
    assert ours["mrr@10"] == pytest.approx(theirs[RR @ 10])
    assert ours["map"] == pytest.approx(theirs[AP])
    assert ours["recall@100"] == pytest.approx(theirs[R @ 100])


# ---------------------------------------------------------------- question sets, for real


@pytest.fixture(scope="module")
def dev_report(retriever) -> tuple[EvalReport, list]:
    calls = []
    questions = load_question_set(DEV_SET)
    report = evaluate_question_set(retriever, questions, modes=("hybrid",), k=10,
                                   progress=lambda done, total: calls.append((done, total)),
                                   name=DEV_SET.name)
    return report, calls


def test_development_set_is_answered_within_three_passages_and_off_topic_abstains(dev_report):
    report, calls = dev_report
    hybrid = report.metrics["hybrid"]
    # All but d14 ("Why …", answered across several sentences: its passage is cited 4th).
    assert hybrid["hit@3"] >= 13 / 14
    assert hybrid["hit@1"] >= 0.9
    assert hybrid["abstained_offtopic"] == 1.0
    assert hybrid["answered_answerable"] == 1.0
    assert hybrid["abstention_accuracy"] == 1.0
    assert hybrid["questions_per_s"] > 0
    assert calls[-1] == (16, 16) and len(calls) == 16


def test_report_shows_table_misses_and_writes_json_csv_and_plots(dev_report, tmp_path):
    report, _ = dev_report
    assert "hit@3" in report.table() and "hybrid" in report.table().splitlines()[1]
    assert report.markdown().splitlines()[0] == "| metric | hybrid |"
    for miss in report.misses():
        assert miss["why"] and miss["mode"] == "hybrid" and miss["expected"]

    paths = report.write(tmp_path / "out")
    assert set(paths) == {"json", "csv", "metrics_png", "hitk_png"}
    assert paths["metrics_png"].read_bytes()[:8] == PNG and paths["hitk_png"].read_bytes()[:8] == PNG
    assert paths["csv"].read_text().splitlines()[0].startswith("mode,hit@1,hit@3,hit@5,hit@10,mrr@10")

    data = json.loads(paths["json"].read_text())
    assert data["metrics"]["hybrid"]["hit@3"] == report.metrics["hybrid"]["hit@3"]
    by_id = {r["id"]: r for r in data["results"]}
    assert by_id["d15"]["abstained"] is True and by_id["d15"]["missed"] is False
    first = by_id["d01"]["answer"]["citations"][0]
    assert {"source", "start", "end", "quote", "passage", "passage_start", "passage_end"} <= set(first)
    assert by_id["d01"]["rank"] == 1


def test_cli_eval_of_a_question_set_prints_json_and_writes_files(local_index, settings, tmp_path, capsys):
    lines = DEV_SET.read_text().splitlines()
    questions = tmp_path / "few.jsonl"
    questions.write_text("\n".join(lines[:2] + lines[-1:]) + "\n")
    out = tmp_path / "out"
    assert main(["eval", str(questions), "--index", str(settings.index_dir), "--modes", "bm25",
                 "-k", "5", "--json", "--out", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["modes"] == ["bm25"] and data["k"] == 5
    assert data["metrics"]["bm25"]["hit@5"] == 1.0 and "hit@10" not in data["metrics"]["bm25"]
    assert [r["abstained"] for r in data["results"]] == [False, False, True]
    assert sorted(p.name for p in out.iterdir()) == ["hitk.png", "metrics.csv", "metrics.png", "report.json"]


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("content, message", [
    ('{"id": "a", "question": "Who?", "answers": ["x"]}\n{"id": "b", "question": "Why?", "answers": ["y"]\n',
     "line 2: not valid JSON"),
    ('{"id": "a", "answers": []}\n', "line 1: 'question' is missing"),
    ('\n{"id": "a", "question": "Who?", "answers": "Lloyd Austin"}\n', "line 2: 'answers' must be a list"),
    ('{"id": "a", "question": "Who?"}\n', "line 1: 'answers' must be a list"),
    ('{"id": "a", "question": "Who?", "answers": []}\n{"id": "a", "question": "What?", "answers": []}\n',
     "line 2: id 'a' is already used on line 1"),
    ('["Who?", ["x"]]\n', "line 1: expected a JSON object"),
    ("\n\n", "has no questions"),
    ('{"id": "a", "question": 42, "answers": []}\n', "line 1: 'question' must be a string, not a number"),
    ('{"id": "a", "question": ["Who?"], "answers": []}\n', "line 1: 'question' must be a string, not a list"),
    ('\n{"id": "a", "question": {"q": "Who?"}, "answers": []}\n', "line 2: 'question' must be a string, not an object"),
    ('{"id": true, "question": "Who?", "answers": []}\n', "line 1: 'id' must be a string or a whole number, not true/false"),
    ('{"id": 1.5, "question": "Who?", "answers": []}\n', "line 1: 'id' must be a string or a whole number, not a number"),
    ('{"id": "a", "question": "  ", "answers": []}\n', "line 1: 'question' is missing or empty"),
])
def test_bad_question_sets_are_rejected_naming_the_line(tmp_path, content, message):
    path = tmp_path / "set.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")) as error:
        load_question_set(path)
    assert "set.jsonl" in str(error.value)


def test_cli_reports_a_bad_question_set_or_a_missing_file_in_words(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "Who?", "answers": ["x"]}\nnot json\n')
    with pytest.raises(SystemExit) as error:
        main(["eval", str(bad), "--out", str(tmp_path / "out")])
    assert str(error.value).startswith("qa: bad.jsonl, line 2: not valid JSON")
    with pytest.raises(SystemExit) as error:
        main(["eval", str(tmp_path / "nowhere.jsonl")])
    assert "no question set at" in str(error.value)
    with pytest.raises(SystemExit) as error:
        main(["eval"])
    assert "--beir" in str(error.value)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- follow-up questions

FOLLOW_UPS = Path(__file__).parent / "data" / "follow-up-questions.jsonl"


def _pairs(tmp_path, *ids: str) -> Path:
    """A question set of the follow-up set's lines with these ids, in the set's order."""
    rows = [line for line in FOLLOW_UPS.read_text().splitlines() if json.loads(line)["id"] in ids]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_the_follow_up_set_names_earlier_questions():
    questions = load_question_set(FOLLOW_UPS)
    by_id = {q.id: q for q in questions}
    follow_ups = [q for q in questions if q.follows]
    assert len(questions) == 32 and len(follow_ups) == 16
    assert by_id["c02f"].follows == "c02" and by_id["c02"].follows is None
    assert all(questions.index(by_id[q.follows]) < questions.index(q) for q in follow_ups)


@pytest.mark.parametrize("content, message", [
    ('{"id": "a", "question": "Who?", "answers": ["x"], "follows": "b"}\n{"id": "b", "question": "Why?", "answers": []}\n',
     "line 1: 'follows' names 'b', which comes later (line 2); a follow-up must come after the question it follows"),
    ('{"id": "a", "question": "Who?", "answers": ["x"]}\n{"id": "b", "question": "Why?", "answers": [], "follows": "z"}\n',
     "line 2: 'follows' names 'z', which is not the id of any question in the set"),
    ('{"id": "a", "question": "Who?", "answers": ["x"], "follows": "a"}\n', "line 1: question 'a' follows itself"),
    ('{"id": "a", "question": "Who?", "answers": ["x"], "follows": ["a"]}\n',
     "line 1: 'follows' must be the id of an earlier question, not a list"),
])
def test_a_follows_that_names_no_earlier_question_is_rejected_naming_the_line(tmp_path, content, message):
    path = tmp_path / "set.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_question_set(path)


def test_follow_ups_are_asked_after_their_question_in_each_mode(retriever, tmp_path):
    questions = load_question_set(_pairs(tmp_path, "c13", "c13f", "c02", "c02f"))
    report = evaluate_question_set(retriever, questions, ["hybrid"], k=3)
    by_id = {r.question.id: r for r in report.results}
    assert "searched_for" not in by_id["c13"].answer.as_dict()
    assert "Charles Flynn" in by_id["c13f"].answer.searched_for  # the name from the question before
    assert by_id["c13f"].answered_at == 1 and by_id["c02f"].answered_at == 1
    assert report.metrics["hybrid"]["follow_up_hit@1"] == 1.0
    assert by_id["c13f"].as_dict()["follows"] == "c13"

    alone = evaluate_question_set(retriever, questions, ["hybrid"], k=3, follow_ups=False)
    by_id = {r.question.id: r for r in alone.results}
    assert by_id["c13f"].answer.abstained and by_id["c13f"].answer.searched_for is None  # "his" is nobody
    assert alone.metrics["hybrid"]["follow_up_hit@1"] == 0.5


def test_the_library_refuses_a_follow_up_before_its_question(retriever):
    questions = [Question("b", "Who led it?", ("Prigozhin",), follows="a"),
                 Question("a", "Which mercenary group nearly rebelled?", ("Wagner",))]
    with pytest.raises(ValueError, match="question 'b' follows 'a', which is not an earlier question"):
        evaluate_question_set(retriever, questions, ["bm25"])


def test_cli_eval_asks_follow_ups_in_context_unless_told_not_to(local_index, settings, tmp_path, capsys):
    pairs = _pairs(tmp_path, "c13", "c13f")
    common = ["eval", str(pairs), "--index", str(settings.index_dir), "--modes", "hybrid", "-k", "3",
              "--json", "--out", str(tmp_path / "out")]
    assert main(common) == 0
    results = {r["id"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert results["c13f"]["follows"] == "c13" and results["c13f"]["rank"] == 1
    assert results["c13f"]["answer"]["searched_for"].startswith("What is his role? ")
    assert "top commander in the Pacific" in results["c13f"]["answer"]["answer"][0]["quote"]

    assert main(common + ["--without-context"]) == 0
    results = {r["id"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert results["c13f"]["answer"]["abstained"] and "searched_for" not in results["c13f"]["answer"]


def test_cli_eval_names_a_follows_that_comes_later(tmp_path):
    path = tmp_path / "later.jsonl"
    path.write_text('{"id": "f", "question": "Who led it?", "answers": ["Prigozhin"], "follows": "q"}\n'
                    '{"id": "q", "question": "Which group rebelled?", "answers": ["Wagner"]}\n')
    with pytest.raises(SystemExit) as error:
        main(["eval", str(path), "--out", str(tmp_path / "out")])
    assert str(error.value) == ("qa: later.jsonl, line 1: 'follows' names 'q', which comes later (line 2); "
                                "a follow-up must come after the question it follows")


def test_beir_loader_reads_real_collections_as_trec_eval_would(tmp_path):
    """Empty documents skipped and counted, judgements of absent documents kept (unretrievable),
    judgements without queries ignored, integer ids, optional and differently spelled headers."""
    folder = tmp_path / "real"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(row) for row in [
        {"_id": 0, "title": "Kettles", "text": "A kettle boils water."},
        {"_id": 1, "title": "Empty", "text": "   "},
        {"_id": "d2", "text": "Tea is brewed in a pot."}]) + "\n")
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(row) for row in [
        {"_id": 7, "text": "what boils water"}, {"_id": "q8", "text": "how is tea made"},
        {"_id": "q9", "text": "never judged"}]) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query_id\tcorpus_id\tscore\n7\t0\t1\n7\t1\t1\n"
                                               "q8\td2\t1\nq8\tgone\t1\nq99\td2\t1\n")
    dataset = load_beir(folder)
    assert set(dataset.corpus) == {"0", "d2"} and set(dataset.queries) == {"7", "q8"}
    assert dataset.qrels == {"7": {"0": 1, "1": 1}, "q8": {"d2": 1, "gone": 1}}
    summary = dataset.summary()
    assert "1 documents with empty text skipped" in summary
    assert "1 judgements of queries absent from queries.jsonl ignored" in summary
    assert "1 queries without judgements ignored" in summary
    assert "2 relevant documents absent from the corpus (unretrievable)" in summary
    (folder / "qrels" / "test.tsv").write_text("7\t0\t1\n")  # no header at all
    assert load_beir(folder).qrels == {"7": {"0": 1}}
    (folder / "corpus.jsonl").write_text('{"_id": "a", "text": "x"}\n\n{"_id": "a", "text": "y"}\n')
    with pytest.raises(ValueError, match="'a' appears twice, on lines 1 and 3"):
        load_beir(folder)


def test_beir_loader_checks_judgements_against_corpus_and_queries(tmp_path):
    dataset = load_beir(BEIR_SAMPLE)
    assert len(dataset.corpus) == 40 and len(dataset.queries) == 16
    assert dataset.qrels["q08"] == {"tech-01": 2}  # the score-0 judgement counts for nothing

    broken = tmp_path / "broken"
    (broken / "qrels").mkdir(parents=True)
    for name in ("corpus.jsonl", "queries.jsonl"):
        (broken / name).write_text((BEIR_SAMPLE / name).read_text())
    (broken / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq01 kettle-01 1\n")
    with pytest.raises(ValueError, match="line 2: expected query-id, corpus-id and a number"):
        load_beir(broken)
    with pytest.raises(ValueError, match="no BEIR dataset folder"):
        load_beir(tmp_path / "nowhere")


# ---------------------------------------------------------------- BEIR end to end


def test_cli_eval_of_the_beir_sample_scores_every_mode_and_writes_files(tmp_path, capsys):
    out = tmp_path / "out"
    runs = tmp_path / "runs"
    assert main(["eval", "--beir", str(BEIR_SAMPLE), "--index", str(tmp_path / "index"),
                 "--out", str(out), "--run-out", str(runs)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("beir-sample: 40 documents")
    assert "ndcg@10" in printed and "misses" in printed
    assert (tmp_path / "index" / "CURRENT").is_file()

    data = json.loads((out / "report.json").read_text())
    assert data["modes"] == ["bm25", "dense", "hybrid"]
    for mode, metrics in data["metrics"].items():
        assert metrics["recall@100"] == 1.0, mode  # 40 documents: every relevant one is ranked
        assert 0.8 <= metrics["ndcg@10"] <= 1.0, mode
        assert 0.8 <= metrics["map"] <= 1.0, mode
    assert data["metrics"]["hybrid"]["ndcg@10"] >= data["metrics"]["bm25"]["ndcg@10"]
    first = next(r for r in data["results"] if r["mode"] == "hybrid" and r["id"] == "q01")
    assert first["ranking"][0] == "kettle-01" and first["hits"][0]["source"] == "kettle-01"
    assert "limescale" in first["hits"][0]["text"].lower()
    assert (out / "metrics.csv").read_text().startswith("mode,ndcg@10,recall@100,mrr@10,map,queries_per_s")
    assert (out / "metrics.png").read_bytes()[:8] == PNG and (out / "hitk.png").read_bytes()[:8] == PNG
    # TREC run files that another tool scores as qa did.
    from ranx import Qrels, Run, evaluate

    assert sorted(p.name for p in runs.iterdir()) == ["bm25.run", "dense.run", "hybrid.run"]
    line = (runs / "hybrid.run").read_text().splitlines()[0].split()
    assert line[1] == "Q0" and line[3] == "1" and line[5] == "qa-hybrid"
    run = Run.from_file(str(runs / "hybrid.run"), kind="trec")
    judged = {q: {d: s for d, s in docs.items()} for q, docs in load_beir(BEIR_SAMPLE).qrels.items()}
    assert evaluate(Qrels(judged), run, "ndcg@10") == pytest.approx(data["metrics"]["hybrid"]["ndcg@10"])


def test_cli_eval_compares_other_systems_runs_with_significance_marks(tmp_path, capsys):
    runs = tmp_path / "runs"
    index = str(tmp_path / "index")
    assert main(["eval", "--beir", str(BEIR_SAMPLE), "--index", index, "--out", str(tmp_path / "first"),
                 "--run-out", str(runs), "--modes", "bm25,dense"]) == 0
    capsys.readouterr()
    # Another system: dense's run without query q01, plus a query the collection does not have.
    lines = [line for line in (runs / "dense.run").read_text().splitlines() if not line.startswith("q01 ")]
    (tmp_path / "other.run").write_text("\n".join(lines + ["q99 Q0 kettle-01 1 1.0 other"]) + "\n")
    out = tmp_path / "out"
    assert main(["eval", "--beir", str(BEIR_SAMPLE), "--index", index, "--out", str(out), "--modes", "bm25",
                 "--compare", str(runs / "bm25.run"), str(tmp_path / "other.run")]) == 0
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines() if line.startswith("metric"))
    assert header.split() == ["metric", "bm25", "bm25-2", "other"]  # a run named like a mode is told apart
    assert "paired Student's t-test, p ≤ 0.05) than ᵃ bm25, ᵇ bm25-2, ᶜ other" in printed
    assert "other = " in printed and "(1 query not in the collection ignored)" in printed
    data = json.loads((out / "report.json").read_text())
    assert data["compared"] == ["bm25-2", "other"]
    # Scored by ranx as qa scores itself: its own run file, read back, ties with it exactly.
    assert data["metrics"]["bm25-2"]["ndcg@10"] == pytest.approx(data["metrics"]["bm25"]["ndcg@10"])
    assert data["significance"]["bm25"]["ndcg@10"] == ""  # nothing beats itself
    # Dense finds q01's answer first; without q01 the other run loses one query of 16.
    assert data["metrics"]["other"]["recall@100"] == pytest.approx(15 / 16)
    assert set(data["curves"]) == {"bm25", "bm25-2", "other"}  # the recall plot draws the runs too
    assert (out / "hitk.png").read_bytes()[:8] == PNG
    assert sorted(p.name for p in runs.iterdir()) == ["bm25.run", "dense.run"]


def test_a_run_that_cannot_be_compared_is_named_in_one_line(tmp_path, capsys):
    (tmp_path / "notes.run").write_text("these are my notes\n")
    for path, expected in ((tmp_path / "missing.run", "no run file at"),
                           (tmp_path / "notes.run", "is not a TREC run file")):
        with pytest.raises(SystemExit) as error:
            main(["eval", "--beir", str(BEIR_SAMPLE), "--index", str(tmp_path / "index"), "--compare", str(path)])
        assert str(error.value).startswith(f"qa: {path}" if "not a" in expected else "qa: no run file")
        assert expected in str(error.value) and str(path) in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "index").exists()  # refused before anything was indexed
    with pytest.raises(ValueError, match="is not a TREC run file"):
        read_run(tmp_path / "notes.run")
    with pytest.raises(SystemExit, match="--beir evaluations only"):
        main(["eval", str(DEV_SET), "--compare", str(tmp_path / "notes.run")])


def test_cli_eval_beir_rerank_lets_the_reader_reorder_the_best_passages(tmp_path, capsys):
    def evaluate(*extra) -> dict:
        out = tmp_path / ("out" + "".join(extra))
        assert main(["eval", "--beir", str(BEIR_SAMPLE), "--index", str(tmp_path / "index"), "--out", str(out),
                     "--modes", "hybrid", *extra]) == 0
        return json.loads((out / "report.json").read_text())

    plain, reranked = evaluate(), evaluate("--rerank")
    assert "the best 20 passages reordered by the reader" in capsys.readouterr().out
    assert reranked["metrics"]["hybrid"]["ndcg@10"] >= 0.95  # measured 0.97 (README, "Fusion")
    order = {r["id"]: r["ranking"][:20] for r in plain["results"]}
    assert any(r["ranking"][:20] != order[r["id"]] for r in reranked["results"])  # the reader reordered some
    assert all(sorted(r["ranking"][:20]) == sorted(order[r["id"]]) for r in reranked["results"])  # and only those
    with pytest.raises(SystemExit, match="--rerank is for --beir"):
        main(["eval", str(DEV_SET), "--rerank"])


def test_cli_eval_beir_builds_its_index_with_the_chunking_asked_for(tmp_path, capsys):
    """--chunk-chars, --overlap, --chunk-context and --dense-windows shape the index `qa eval --beir`
    builds (rebuilt when they change); a question set, asked of an index `qa index` built, refuses
    them."""
    index = tmp_path / "index"

    def evaluate(*extra) -> tuple[dict, dict]:
        assert main(["eval", "--beir", str(BEIR_SAMPLE), "--index", str(index), "--out", str(tmp_path / "out"),
                     "--modes", "bm25", *extra]) == 0
        live = index / (index / "CURRENT").read_text().strip()
        manifest = json.loads((live / "manifest.json").read_text())
        return manifest, json.loads((tmp_path / "out" / "report.json").read_text())

    whole, _ = evaluate()
    small, report = evaluate("--chunk-chars", "100", "--overlap", "0", "--chunk-context", "--dense-windows", "0")
    assert whole["settings"]["chunk_chars"] == 600 and whole["chunk_count"] == 40  # each document one chunk
    assert small["settings"] == {**whole["settings"], "chunk_chars": 100, "overlap_sentences": 0,
                                 "chunk_context": True, "dense_windows": 0}
    assert small["chunk_count"] > 2 * whole["chunk_count"]
    assert f"40 documents ({small['chunk_count']} chunks)" in capsys.readouterr().out
    assert report["metrics"]["bm25"]["recall@100"] == 1.0  # a document is still found by any of its chunks
    with pytest.raises(SystemExit, match="shape the index --beir"):
        main(["eval", str(DEV_SET), "--chunk-chars", "300"])
    with pytest.raises(SystemExit):
        main(["eval", "--beir", str(BEIR_SAMPLE), "--dense-windows", "20"])
    assert "20 is too small: use 0 (off) or 50" in capsys.readouterr().err
