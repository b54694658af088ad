"""Several app instances on one Asterisk: each serves its own Stasis application names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from callflow.config import Settings


def test_instances_split_the_names_and_together_serve_all() -> None:
    names = [Settings(ari_app_spread=4, ari_app_instances=2, ari_app_instance=k).ari_apps
             for k in (0, 1)]
    assert names == [["anshin-0", "anshin-2"], ["anshin-1", "anshin-3"]]
    # the dialplan tries the names in turn: the next name always belongs to the other one
    assert Settings(ari_app_spread=4).ari_apps == sorted(names[0] + names[1])


def test_one_instance_keeps_every_name() -> None:
    assert Settings().ari_apps == ["anshin"]
    assert Settings(ari_app_spread=3).ari_apps == ["anshin-0", "anshin-1", "anshin-2"]


@pytest.mark.parametrize(("spread", "instances", "instance"), [(1, 2, 0), (4, 2, 2), (2, 3, 0)])
def test_instances_without_names_of_their_own_are_refused(spread: int, instances: int,
                                                           instance: int) -> None:
    with pytest.raises(ValidationError):
        Settings(ari_app_spread=spread, ari_app_instances=instances, ari_app_instance=instance)
