"""What an aggregate's method gives back: the new state, the effects to run in order, and what the caller
hears (an answer, or a refusal naming its rule). Workflows assign the state, run the effects as activities
and feed the replies back; nothing else changes state."""

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from domain.errors import BadInput, Refused

S = TypeVar("S")


@dataclass(frozen=True)
class Decision(Generic[S]):
    state: S
    effects: list = field(default_factory=list)
    refusal: Refused | BadInput | None = None
    answer: object = None
