"""The scene benchmark's diagnosis (benchmarks/scene_misses.py): each missed face put in its class, each extra id
explained, on a run written out by hand; and the measure of ids handed from one person to another."""

from __future__ import annotations

from fer_edge.benchmarks.scene_metrics import Reported, TrueFrame, quality
from fer_edge.benchmarks.scene_misses import Seen, classify

FACE = (100.0, 100.0, 150.0, 150.0)
OFF = (160.0, 100.0, 210.0, 150.0)  # a box beside the face: IoU 0


def test_each_missed_face_gets_its_cause_and_each_extra_id_what_ended_the_one_before():
    truth = [TrueFrame(((0, FACE),))] * 7
    seen = Seen(FACE, visible=True, confirmed=True, detected=True, hidden_by=None)
    run = {
        # frame 0 is no detection frame; 1 detects nothing; 2 finds the face (track 5); 6 finds it again (track 7)
        "detections": [None, [], [FACE], None, None, None, [FACE]],
        "tracks": [{}, {}, {5: seen}, {5: Seen(FACE, False, True, False, "flow")}, {5: Seen(OFF, True, True, False, None)},
                   {}, {7: seen}],
        "reported": [[], [], [Reported(5, FACE)], [], [Reported(5, OFF, False)], [], [Reported(7, FACE)]],
        "ended": {5: "carry"}, "born": {5: FACE, 7: FACE},
    }
    result = classify(truth, run)
    causes = {c for c, _ in result["misses"]}
    assert causes == {"entering, waiting", "entering, detector missed", "hidden: flow", "box lag", "ended: carry"}
    assert sum(result["misses"].values()) == 5 and set(result["misses"].values()) == {1}
    assert result["faces_by_band"][1] == 7  # 50 px wide: the 40-80 px band
    assert dict(result["ids"]) == {"ended: carry": 1}  # id 7 came after id 5 ended, unfound for max_carry_s


def test_an_id_handed_from_one_person_to_another_is_counted():
    a, b = (0.0, 0.0, 50.0, 50.0), (300.0, 0.0, 350.0, 50.0)
    truth = [TrueFrame(((0, a), (1, b)))] * 3
    one_id_each = [[Reported(1, a), Reported(2, b)]] * 3
    swapped = [[Reported(1, a), Reported(2, b)], [Reported(1, a), Reported(2, b)], [Reported(2, a), Reported(1, b)]]
    assert quality(truth, one_id_each)["ids_on_two_tracks"] == 0
    assert quality(truth, swapped)["ids_on_two_tracks"] == 2  # both ids were on both people
