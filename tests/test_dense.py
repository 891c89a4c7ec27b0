import numpy as np
import pytest

from qa.config import Settings
from qa.index.dense import DenseIndex, DeviceUnavailable, ModelNotFound, embed, load_model, model_path, pick_device

SENTENCES = ["North Korea sent troops to Russia.", "Bees make honey in hives.",
             "Russia recruits about 25,000 soldiers a month.", "How many soldiers does Russia recruit?"]


@pytest.fixture(scope="module")
def torch_model():
    return load_model(Settings().model, "cpu", "torch")


def test_default_model_is_bundled_and_loads_offline():
    assert (model_path("all-MiniLM-L6-v2") / "model.safetensors").is_file()
    with pytest.raises(ModelNotFound, match="unknown model"):
        model_path("no-such-model")


def test_vectors_are_unit_length_and_meaningful(torch_model):
    vectors = embed(torch_model, SENTENCES, Settings().batch_size)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    similarity = vectors @ vectors[3]
    assert similarity[2] == max(similarity[:3])  # the recruiting sentence answers the question


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_onnx_backends_agree_with_torch(torch_model, backend):
    reference = embed(torch_model, SENTENCES, Settings().batch_size)
    vectors = embed(load_model(Settings().model, "cpu", backend), SENTENCES, Settings().batch_size)
    cosine = np.sum(reference * vectors, axis=1)
    assert cosine.min() > (0.9999 if backend == "onnx" else 0.98)


def test_int8_lanes_side_by_side_give_the_vectors_of_one_session():
    from qa.index.onnx_embed import OnnxEncoder

    texts = [f"{sentence} ({n})" * (1 + n % 3) for n, sentence in enumerate(SENTENCES * 10)]
    one = OnnxEncoder(model_path(Settings().model), quantized=True, lanes=1)
    two = OnnxEncoder(model_path(Settings().model), quantized=True, lanes=2)
    shared = two.encode(texts, batch_size=64)
    assert len(two._lanes._open) == 2 and not one._lanes._open  # the call was shared between two sessions
    assert np.abs(shared - one.encode(texts, batch_size=64)).max() < 1e-6
    assert np.abs(two.encode(texts[:3]) - shared[:3]).max() < 1e-6  # a short call runs on the main session


def test_short_calls_open_the_lanes_only_after_a_few_questions():
    from qa.index.onnx_embed import OnnxEncoder

    encoder = OnnxEncoder(model_path(Settings().model), quantized=True, lanes=2)
    texts = [f"sentence number {n} of a question's passages" for n in range(OnnxEncoder.LANE_MIN)]
    first = encoder.encode(texts)
    for _ in range(OnnxEncoder.LANE_PATIENCE // len(texts)):
        assert not encoder._lanes._open
        encoder.encode(texts)
    assert len(encoder._lanes._open) == 2  # a process that keeps asking shares its calls
    assert np.abs(encoder.encode(texts) - first).max() < 1e-6


def test_a_failing_lane_raises_in_the_caller():
    from qa.index.onnx_embed import OnnxEncoder

    encoder = OnnxEncoder(model_path(Settings().model), quantized=True, lanes=2)
    texts = [f"text number {n}" for n in range(OnnxEncoder.LANE_MIN)]
    encoder.encode(texts)
    assert not encoder._lanes._open  # a question's few sentences: not worth opening sessions for, yet
    encoder.lanes()  # opened now, as after a few questions

    class Broken:
        def run(self, *args):
            raise RuntimeError("lane broke")

    encoder._lanes._open[1] = (Broken(), encoder._lanes._open[1][1])
    with pytest.raises(RuntimeError, match="lane broke"):
        encoder.encode(texts)


def test_asking_for_a_gpu_without_one_says_so():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert pick_device("auto") == "cpu"
    with pytest.raises(DeviceUnavailable, match="--device cuda asks for a GPU"):
        pick_device("cuda")


def test_large_collections_get_an_approximate_index_with_high_recall():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = DenseIndex.build(vectors, Settings(ann_threshold=10_000))
    approximate = DenseIndex.build(vectors, Settings(ann_threshold=1_000, hnsw_ef_search=256))
    assert exact.kind == "flat" and approximate.kind == "hnsw"
    recall = np.mean([len({i for i, _ in exact.search(q, 10)} & {i for i, _ in approximate.search(q, 10)}) / 10
                      for q in vectors[:100]])
    assert recall >= 0.95


def test_a_graph_holds_six_bits_a_dimension_and_still_returns_exact_cosines():
    """HNSW stores 6-bit codes (under a fifth of float32), and the candidates it finds are scored
    again from the float vectors: the cosines returned are the vectors' own, best first."""
    from faiss import downcast_index

    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(3000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    graph = DenseIndex.build(vectors, Settings(ann_threshold=1_000, hnsw_ef_search=256))
    assert graph.coded and downcast_index(downcast_index(graph._index).storage).code_size == 64 * 6 // 8
    exact = DenseIndex.build(vectors, Settings(ann_threshold=10_000))
    assert not exact.coded
    agree = []
    for query in vectors[:50] + rng.normal(scale=0.05, size=(50, 64)).astype(np.float32):
        found = graph.search(query, 10)
        ids, scores = [i for i, _ in found], np.array([s for _, s in found])
        np.testing.assert_allclose(scores, vectors[ids] @ query, rtol=0, atol=1e-5)
        assert np.all(np.diff(scores) <= 0)
        agree.append(len(set(ids) & {i for i, _ in exact.search(query, 10)}) / 10)
    assert np.mean(agree) >= 0.95
    # Without its float vectors at hand (as loaded alone), it still searches, by its codes.
    assert [i for i, _ in graph.rescored_from(None).search(vectors[0], 1)] == [0]


def test_search_breadth_grows_with_the_graph_unless_set():
    """efSearch 256 for graphs up to 300k vectors, 512 past them (recall falls as graphs grow),
    and whatever the settings give when they give one."""
    from faiss import downcast_index

    from qa.index.dense import ef_search_for

    assert ef_search_for(100_000) == 256 and ef_search_for(1_000_000) == 512
    assert ef_search_for(1_000_000, 128) == 128
    vectors = np.eye(2000, 64, dtype=np.float32)
    assert downcast_index(DenseIndex.build(vectors, Settings(ann_threshold=1_000))._index).hnsw.efSearch == 256
    searched = DenseIndex.build(vectors, Settings(ann_threshold=1_000, hnsw_ef_search=64))
    assert downcast_index(searched._index).hnsw.efSearch == 64


def test_masked_rows_are_never_found_and_recall_holds_among_the_rest():
    """A segment's rows of removed documents stay in its HNSW graph, masked: searches skip them
    and still find the live rows an exact search of the live rows alone finds."""
    from qa.index.dense import live_bitmap

    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(4000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    live = rng.random(len(vectors)) > 0.2  # a fifth removed: the share at which segments merge
    approximate = DenseIndex.build(vectors, Settings(ann_threshold=1_000, hnsw_ef_search=256))
    flat_of_live = DenseIndex.build(vectors[live], Settings(ann_threshold=10_000))
    live_rows = np.flatnonzero(live)
    recalls = []
    for query in vectors[:100] + rng.normal(scale=0.05, size=(100, 64)).astype(np.float32):
        found = [i for i, _ in approximate.search(query, 10, live_bitmap(live))]
        assert all(live[found]) and len(found) == 10
        exact = {int(live_rows[i]) for i, _ in flat_of_live.search(query, 10)}
        recalls.append(len(exact & set(found)) / 10)
    assert np.mean(recalls) >= 0.98


def test_onnx_export_from_the_bundled_weights_works_offline(tmp_path):
    """The first-use path, whatever the cache already holds: export, quantise, load, embed."""
    import onnxruntime as ort

    from qa.index.onnx_embed import exported_model

    path = exported_model(model_path("all-MiniLM-L6-v2"), quantized=True, cache_dir=tmp_path)
    assert path.name == "model-int8.onnx" and (path.parent / "model.onnx").is_file()
    assert not list(path.parent.glob("*.partial"))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input_ids", "attention_mask", "token_type_ids"]
