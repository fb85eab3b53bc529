import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.services import VidseekService
from app.settings import Settings


@pytest.fixture(scope="module")
def settings(built_index):
    return Settings(index_dir=built_index, max_upload_mb=1)


@pytest.fixture(scope="module")
def service(settings, _tiny_encoder):
    return VidseekService(settings, encoder=_tiny_encoder)


@pytest.fixture(scope="module")
def client(settings, service):
    with TestClient(create_app(settings, service)) as c:
        yield c
