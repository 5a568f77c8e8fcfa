import pytest


@pytest.fixture
def clean_trail(world):
    """The trail without the events the ``world`` fixture's own set-up wrote (organizations and memberships are
    audited), so that a test lists exactly the events it made. Chain heads and checkpoints go too: the chains
    restart from their genesis, and verification of what the test writes stays meaningful."""
    from audit.models import ChainHead, Checkpoint, Event

    Event.objects.all().delete()
    ChainHead.objects.all().delete()
    Checkpoint.objects.all().delete()
    return world
