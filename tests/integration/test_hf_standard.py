"""LangChain's standard integration suite over `ChatLocalHF` on the real embedded model."""

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests

from tests.hf_standard_flags import ChatLocalHFFlags

# Generous: a whole test is a few short CPU generations, but the machine may be shared.
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module", autouse=True)
def _loaded(embedded_model):
    """Load the model once before the suite, so no single test pays for it."""


class TestChatLocalHFStandard(ChatLocalHFFlags, ChatModelIntegrationTests):
    """All flags and params come from `ChatLocalHFFlags`."""
