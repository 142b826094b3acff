"""Folio through the Python client that openapi-python-client generates from openapi.json.

Generate the client, then run this against a node (scripts/clients.sh does both):

    openapi-python-client generate --path openapi.json --meta none --output-path folio_client
    python examples/python_client.py http://127.0.0.1:8080

Every call goes through the generated, typed functions; the client raises on a status
the document does not declare, and each reply is checked to be its declared model, so a
contract the server breaks fails here.
"""

import io
import struct
import sys
import time
import uuid
import zlib

from folio_client import AuthenticatedClient, Client
from folio_client.api.auth import login, logout, refresh, register, verify
from folio_client.api.media import get_media, upload_media
from folio_client.api.profiles import get_my_profile, get_public_profile, update_my_profile
from folio_client.api.projects import create_project, get_project, list_user_projects, set_project_thumbnail
from folio_client.api.search import search_projects, suggest
from folio_client.api.admin import get_jobs
from folio_client.models import (
    ErrorBody,
    LoginBody,
    LoginReply,
    LogoutBody,
    MediaReply,
    MessageReply,
    NewProjectBody,
    ProfileBody,
    ProfileBodySocialLinksType0,
    ProfileReply,
    ProjectReply,
    ProjectListReply,
    PublicProfileReply,
    RefreshBody,
    RefreshReply,
    RegisterBody,
    RegisterReply,
    SearchReply,
    SuggestReply,
    ThumbnailBody,
    ThumbnailStatus,
    UploadMediaBody,
    VerifyReply,
)
from folio_client.types import File


def png(width: int, height: int) -> bytes:
    """A gradient PNG built by hand, so the example needs no imaging library."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 128)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def expect(response, status: int, model):
    """The call answered `status` and its body parsed into `model`."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.content!r}"
    assert isinstance(response.parsed, model), f"expected {model.__name__}, parsed {response.parsed!r}"
    return response.parsed


def expect_error(response, status: int):
    """An error of the API: its status and the typed error body."""
    error = expect(response, status, ErrorBody)
    assert error.error and error.code, error
    print(f"  {status} {error.code}: {error.error}")


def wait_for(what: str, check, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {seconds} s")


def main(base: str) -> None:
    anonymous = Client(base_url=base, raise_on_unexpected_status=True)
    name = "py" + uuid.uuid4().hex[:10]
    email, password = f"{name}@folio.test", "python-client-pw"

    # Register and log in: the reply carries an access and a refresh token.
    expect(register.sync_detailed(client=anonymous, body=RegisterBody(username=name, email=email, password=password)), 201, RegisterReply)
    tokens = expect(login.sync_detailed(client=anonymous, body=LoginBody(email=email, password=password)), 200, LoginReply)
    me = AuthenticatedClient(base_url=base, token=tokens.access_token, raise_on_unexpected_status=True)
    expect(verify.sync_detailed(client=me), 200, VerifyReply)

    # Refresh: with rotation a new refresh token comes back, and the old one is spent.
    renewed = expect(refresh.sync_detailed(client=anonymous, body=RefreshBody(refresh_token=tokens.refresh_token)), 200, RefreshReply)
    me = AuthenticatedClient(base_url=base, token=renewed.access_token, raise_on_unexpected_status=True)

    # Profile: social links are a typed map of strings.
    links = ProfileBodySocialLinksType0.from_dict({"github": name})
    profile = expect(update_my_profile.sync_detailed(client=me, body=ProfileBody(name="Py Client", bio="generated", social_links=links)), 200, ProfileReply)
    assert profile.social_links is not None and profile.social_links["github"] == name
    expect(get_my_profile.sync_detailed(client=me), 200, ProfileReply)
    expect(get_public_profile.sync_detailed(name, client=anonymous), 200, PublicProfileReply)

    # A project, read back and listed.
    project = expect(create_project.sync_detailed(client=me, body=NewProjectBody(title=f"Lighthouse {name}", description="A python-made project", tags=["python", "client"])), 201, ProjectReply)
    expect(get_project.sync_detailed(project.id, client=anonymous), 200, ProjectReply)
    expect(list_user_projects.sync_detailed(project.user_id, client=anonymous), 200, ProjectListReply)

    # Upload an image; its thumbnail is made in the background: poll until ready.
    image = File(payload=io.BytesIO(png(1200, 800)), file_name="photo.png", mime_type="image/png")
    media = expect(upload_media.sync_detailed(client=me, body=UploadMediaBody(file=image, project_id=project.id)), 201, MediaReply)
    media = wait_for(
        "thumbnail ready",
        lambda: (m := expect(get_media.sync_detailed(media.file_id, client=me), 200, MediaReply)).thumbnail_status == ThumbnailStatus.READY and m,
    )
    expect(set_project_thumbnail.sync_detailed(project.id, client=me, body=ThumbnailBody(thumbnail_url=media.thumbnail_url)), 200, ProjectReply)

    # Search (indexed in the background) and suggestions.
    wait_for(
        "project searchable",
        lambda: any(r.project_id == project.id for r in expect(search_projects.sync_detailed(client=anonymous, query=name), 200, SearchReply).results),
    )
    expect(suggest.sync_detailed(client=anonymous, query="Lighth"), 200, SuggestReply)

    # One error of each kind the API answers, each parsed into ErrorBody.
    expect_error(register.sync_detailed(client=anonymous, body=RegisterBody(username="x y", email="not-an-email", password="short")), 400)
    stranger = AuthenticatedClient(base_url=base, token="not-a-token", raise_on_unexpected_status=True)
    expect_error(verify.sync_detailed(client=stranger), 401)
    expect_error(get_jobs.sync_detailed(client=me), 403)
    expect_error(get_project.sync_detailed(uuid.uuid4(), client=anonymous), 404)
    expect_error(register.sync_detailed(client=anonymous, body=RegisterBody(username=name, email=email, password=password)), 409)
    too_big = File(payload=io.BytesIO(b"\0" * (6 * 1024 * 1024)), file_name="big.png", mime_type="image/png")
    expect_error(upload_media.sync_detailed(client=me, body=UploadMediaBody(file=too_big)), 413)
    text = File(payload=io.BytesIO(b"plain text, not an image"), file_name="notes.png", mime_type="image/png")
    expect_error(upload_media.sync_detailed(client=me, body=UploadMediaBody(file=text)), 415)
    for _ in range(5):
        expect_error(login.sync_detailed(client=anonymous, body=LoginBody(email=email, password="wrong-password")), 401)
    expect_error(login.sync_detailed(client=anonymous, body=LoginBody(email=email, password="wrong-password")), 429)

    # Log out: this session, then every session.
    expect(logout.sync_detailed(client=me, body=LogoutBody(refresh_token=renewed.refresh_token)), 200, MessageReply)
    expect(logout.sync_detailed(client=me, body=LogoutBody(all_=True)), 200, MessageReply)
    expect_error(refresh.sync_detailed(client=anonymous, body=RefreshBody(refresh_token=renewed.refresh_token)), 401)
    print("python client: the whole flow passed")


if __name__ == "__main__":
    main(sys.argv[1])
