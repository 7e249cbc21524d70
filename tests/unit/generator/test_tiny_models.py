import threading

from sorami_generator.tiny_models import ensure_built, model_dir, tiny_tokenizer


def test_tiny_tokenizer_encodes_any_text_between_the_special_tokens():
    tok = tiny_tokenizer()
    ids = tok("A café, 42!").input_ids
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id and len(ids) > 4
    assert tok.unk_token_id not in ids[1:-1]


def test_concurrent_builds_end_with_one_complete_copy(tmp_path):
    errors: list[BaseException] = []

    def build():
        try:
            ensure_built("tiny-image", tmp_path)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    target = model_dir(tmp_path, "tiny-image")
    assert (target / "model_index.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temp dirs left
