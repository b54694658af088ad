"""bench.load: parsing `core show taskprocessors` (Asterisk 22 has 8 columns) and the
growing-backlog rule."""

from __future__ import annotations

from bench.load import TpSample, parse_taskprocessors, queues_growing

OUTPUT = """\
Processor                         Processed   In Queue  Max Depth  Low water High water Low time(us) High time(us)
ast_msg_queue                             0          0          0        450        500          0          0
stasis/m:manager:core-00000006        12345         37        120        450        500          3         90
subm:ast_channel_topic_all-0001        999          5          9        450        500          0          0

96 taskprocessors
"""  # noqa: E501


def test_parse_asterisk22_columns() -> None:
    total, top = parse_taskprocessors(OUTPUT)
    assert total == 42
    assert top[0] == ("stasis/m:manager:core-00000006", 37)


def test_growing_backlog() -> None:
    flat = [TpSample(float(i), 5, []) for i in range(8)]
    growing = [TpSample(float(i), i * 100, []) for i in range(8)]
    assert not queues_growing(flat)
    assert queues_growing(growing)
