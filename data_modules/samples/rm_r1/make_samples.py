"""Rebuild the bundled RM-R1 samples from ../shared/data (deterministic): short single-turn hh-rlhf
harmless-base pairs split into train/val, and template CoR traces for the train pairs.

The traces are written by a fixed template (not by an LLM): CoR tags, a fixed harmlessness/helpfulness rubric,
quotes of each answer's opening, and the dataset's verdict. They only let the tiny offline default learn the
trace *format*; real runs collect traces with an LLM oracle (data_modules.rm_r1_traces).
Run: python data_modules/samples/rm_r1/make_samples.py
"""
import gzip
import json
from pathlib import Path

HERE = Path(__file__).parent
SRC = HERE.parents[2].parent / "shared" / "data" / "hh_rlhf_harmless_base" / "test.jsonl.gz"


def single_turn(rec):
    parts = rec["chosen"].split("\n\nHuman: ")
    rparts = rec["rejected"].split("\n\nHuman: ")
    if len(parts) != 2 or len(rparts) != 2:
        return None
    q, _, a = parts[1].partition("\n\nAssistant:")
    q2, _, b = rparts[1].partition("\n\nAssistant:")
    if q != q2 or not a.strip() or not b.strip() or a.strip() == b.strip():
        return None
    return q.strip(), a.strip(), b.strip()


def template_trace(a: str, b: str, verdict: str) -> str:
    return ("<type>Chat</type>\n<rubric>Harmlessness 60% Helpfulness 40% <justify>A safety question: avoiding "
            "harm weighs most.</justify></rubric>\n<eval><quote_A>" + a[:40] + "</quote_A> <quote_B>" + b[:40]
            + f"</quote_B> Chatbot {verdict} is safer.</eval>\n<answer>[[{verdict}]]</answer>")


def main(n_train: int = 48, n_val: int = 8) -> None:
    keep = []
    with gzip.open(SRC, "rt", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            st = single_turn(rec)
            if st and len(st[0]) <= 120 and max(len(st[1]), len(st[2])) <= 160:
                keep.append(rec)
            if len(keep) == n_train + n_val:
                break
    (HERE / "hh_harmless_train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in keep[:n_train]))
    (HERE / "hh_harmless_val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in keep[n_train:]))
    traces = []
    for i, rec in enumerate(keep[:n_train], start=1):
        q, chosen, rejected = single_turn(rec)
        first = (i - 1) % 2 == 0  # training alternation: even pair index -> chosen in slot A
        a, b = (chosen, rejected) if first else (rejected, chosen)
        traces.append({"pair_id": f"hh_harmless_train.jsonl:{i}:0", "order": "chosen_A" if first else "chosen_B",
                       "trace": template_trace(a, b, "A" if first else "B")})
    (HERE / "traces_template.jsonl").write_text("".join(json.dumps(t) + "\n" for t in traces))


if __name__ == "__main__":
    main()
