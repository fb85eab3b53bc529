"""The catalog's schema migrations (Alembic): new, pre-migration, emptied and future catalogs, writers and readers.

Each test runs on a SQLite file and, when VIDSEEK_TEST_POSTGRES_URL is set, on PostgreSQL in a schema of its own.
"""

import os
import shutil
import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, make_url, select, text
from sqlalchemy.orm import Session

from indexer import IndexCatalogError, IndexReader, Manifest, current_generation
from indexer.errors import IndexBusyError
from indexer.index_dir import catalog
from indexer.index_dir.catalog import (
    INITIAL_REVISION,
    VIDEO_INDEXED,
    Base,
    CatalogError,
    Segment,
    Video,
    alembic_config,
    catalog_revision,
    check_catalog_revision,
    connect,
    head_revision,
    is_full_text_object,
    upgrade_catalog,
)
from indexer.index_dir.reader import index_catalog_revision
from indexer.index_dir.writer import IndexWriter, upgrade_index_catalog

POSTGRES_URL = os.environ.get("VIDSEEK_TEST_POSTGRES_URL")
PREVIOUS_HEAD = head_revision()  # this code's head: the "previous release" of the newer_code fixture


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(not POSTGRES_URL, reason="set VIDSEEK_TEST_POSTGRES_URL to a PostgreSQL database (CI does)"),
            ],
        ),
    ]
)
def db_url(request, tmp_path):
    """An empty catalog database: a SQLite file, or a PostgreSQL schema of its own (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    schema = f"vidseek_migrations_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


NEXT_REVISION = '''"""A later release's change (test only): segments get an index on their ordinal."""

from alembic import op

revision = "0002_test"
down_revision = "PREVIOUS_HEAD"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_segments_ordinal", "segments", ["ordinal"])


def downgrade() -> None:
    op.drop_index("ix_segments_ordinal", table_name="segments")
'''


@pytest.fixture()
def newer_code(tmp_path, monkeypatch):
    """This code as the next release would have it: the same migrations plus one revision."""
    migrations = tmp_path / "migrations"
    shutil.copytree(catalog.MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (migrations / "versions" / "0002_test.py").write_text(NEXT_REVISION.replace("PREVIOUS_HEAD", PREVIOUS_HEAD))
    monkeypatch.setattr(catalog, "MIGRATIONS_DIR", migrations)
    return "0002_test"


def schema_diffs(engine) -> list:
    """The migrated schema's differences from the models', the full-text index's own objects aside (they are not
    mapped: FTS5 tables in SQLite, a tsvector column and its index in PostgreSQL)."""

    def mapped(obj, name, kind, reflected, compare_to) -> bool:
        return not is_full_text_object(name)

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": mapped})
        return compare_metadata(context, Base.metadata)


def add_video(engine, path: str) -> int:
    with Session(engine) as session:
        video = Video(path=path, fingerprint="f", size=1, status=VIDEO_INDEXED)
        video.segments = [Segment(ordinal=0, start=0.0, end=2.0)]
        session.add(video)
        session.commit()
        return video.id


def add_legacy_video(engine, path: str) -> int:
    """A video row as vidseek wrote it at the initial revision (the models have columns added since)."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO videos (path, fingerprint, size, status, indexed_at) "
                "VALUES (:path, 'f', 1, :status, CURRENT_TIMESTAMP)"
            ),
            {"path": path, "status": VIDEO_INDEXED},
        )
        video_id = connection.execute(text("SELECT id FROM videos WHERE path = :path"), {"path": path}).scalar_one()
        connection.execute(
            text("INSERT INTO segments (video_id, ordinal, start_time, end_time) VALUES (:id, 0, 0.0, 2.0)"), {"id": video_id}
        )
    return video_id


def as_before_migrations(url: str) -> None:
    """The catalog at ``url`` as vidseek wrote it before there were migrations: the initial revision's tables
    (made, or migrated down to them), and no alembic_version table."""
    engine = create_engine(url)
    with engine.begin() as connection:
        config = alembic_config(connection)
        if _revision(connection) is None:
            command.upgrade(config, INITIAL_REVISION)
        else:
            command.downgrade(config, INITIAL_REVISION)
    engine.dispose()
    drop_version_table(url)


def _revision(connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def set_version(url: str, revision: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    engine.dispose()


def test_new_catalog_is_migrated_to_head_with_the_models_schema(db_url):
    engine = connect(db_url)
    try:
        assert catalog_revision(db_url) == head_revision()
        assert schema_diffs(engine) == []
        assert check_catalog_revision(engine, upgrade_command="unused") == head_revision()
        add_video(engine, "/lib/a.mp4")
    finally:
        engine.dispose()
    assert upgrade_catalog(db_url) == (head_revision(), head_revision())  # at head: nothing to do


def test_catalog_from_before_migrations_is_stamped_then_upgraded_and_keeps_its_rows(db_url):
    as_before_migrations(db_url)
    legacy = create_engine(db_url)
    video_id = add_legacy_video(legacy, "/lib/old.mp4")
    with pytest.raises(CatalogError, match=rf"predates .* needs revision {head_revision()}: run 'vidseek db upgrade'"):
        check_catalog_revision(legacy, upgrade_command="vidseek db upgrade")
    legacy.dispose()
    assert catalog_revision(db_url) is None

    assert upgrade_catalog(db_url) == (None, head_revision())
    engine = connect(db_url, readonly=True)
    try:
        check_catalog_revision(engine, upgrade_command="unused")
        assert schema_diffs(engine) == []
        with Session(engine) as session:
            assert session.scalars(select(Video.path)).all() == ["/lib/old.mp4"]
            assert session.get(Video, video_id).segments[0].end == 2.0
        assert add_video(engine, "/lib/new.mp4") > video_id
    finally:
        engine.dispose()


def test_unversioned_tables_that_are_not_the_catalog_are_refused(db_url):
    engine = create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE videos (id INTEGER PRIMARY KEY, path VARCHAR(10), owner VARCHAR(10))"))
    engine.dispose()
    with pytest.raises(CatalogError, match=r"no table segments; videos lacks .*fingerprint.*; videos has unknown columns owner"):
        connect(db_url)
    assert catalog_revision(db_url) is None  # untouched: not stamped


def test_catalog_from_a_newer_vidseek_is_refused_by_writers_and_readers(db_url):
    connect(db_url).dispose()
    set_version(db_url, "9999_from_the_future")
    with pytest.raises(CatalogError, match=r"revision '9999_from_the_future', which this vidseek does not know .*newer vidseek"):
        connect(db_url)
    engine = connect(db_url, readonly=True)
    try:
        with pytest.raises(CatalogError, match=r"'9999_from_the_future'.*its newest is " + head_revision()):
            check_catalog_revision(engine, upgrade_command="unused")
    finally:
        engine.dispose()
    assert catalog_revision(db_url) == "9999_from_the_future"


def test_catalog_whose_tables_were_dropped_is_created_again(db_url):
    engine = connect(db_url)
    Base.metadata.drop_all(engine)  # what a test or an admin may do: the version table stays behind
    engine.dispose()
    engine = connect(db_url)
    try:
        assert schema_diffs(engine) == []
        add_video(engine, "/lib/a.mp4")
    finally:
        engine.dispose()


def test_catalog_one_revision_behind_is_upgraded_by_writers_and_refused_by_readers(db_url, newer_code):
    command.upgrade(alembic_config(url=db_url), PREVIOUS_HEAD)  # as the previous release left it
    assert head_revision() == newer_code
    reader = connect(db_url, readonly=True)
    try:
        with pytest.raises(CatalogError, match=rf"revision {PREVIOUS_HEAD}, this vidseek needs {newer_code}: run 'X'"):
            check_catalog_revision(reader, upgrade_command="X")
    finally:
        reader.dispose()
    assert catalog_revision(db_url) == PREVIOUS_HEAD

    connect(db_url).dispose()
    assert catalog_revision(db_url) == newer_code
    engine = create_engine(db_url)
    assert "ix_segments_ordinal" in {i["name"] for i in inspect(engine).get_indexes("segments")}
    engine.dispose()


# -- an index dir: readers never migrate, 'vidseek db upgrade --index-dir' does
def publish_empty_index(root, db_url=None) -> None:
    manifest = Manifest(model="m", pretrained="none", weights_fingerprint="w", dim=4, frames=2, segment_seconds=10, preprocess={})
    IndexWriter(root, manifest, db_url=db_url).publish()


def drop_version_table(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
    engine.dispose()


def test_reader_refuses_an_old_embedded_catalog_until_db_upgrade(tmp_path):
    root = tmp_path / "index"
    publish_empty_index(root)
    catalog = current_generation(root) / "catalog.db"
    as_before_migrations(f"sqlite:///{catalog}")
    with pytest.raises(IndexCatalogError, match=rf"no schema revision .*run 'vidseek db upgrade --index-dir {root}'"):
        IndexReader(root)
    assert index_catalog_revision(root) is None  # the reader did not migrate it

    assert upgrade_index_catalog(root) == (None, head_revision())
    assert not list(current_generation(root).glob("*.upgrading"))
    assert index_catalog_revision(root) == head_revision()
    IndexReader(root).close()
    assert upgrade_index_catalog(root) == (head_revision(), head_revision())


def test_db_upgrade_waits_for_no_build(tmp_path):
    root = tmp_path / "index"
    publish_empty_index(root)
    manifest = Manifest.read(current_generation(root) / "manifest.json")
    writer = IndexWriter(root, manifest)
    try:
        with pytest.raises(IndexBusyError, match="running on"):
            upgrade_index_catalog(root)
    finally:
        writer.abort()


def test_reader_of_an_external_catalog_names_the_url_to_upgrade(tmp_path, db_url):
    root = tmp_path / "index"
    publish_empty_index(root, db_url=db_url)
    IndexReader(root, db_url=db_url).close()
    command.downgrade(alembic_config(url=db_url), INITIAL_REVISION)
    if head_revision() != INITIAL_REVISION:  # behind: the reader says what to run, with the password hidden
        with pytest.raises(IndexCatalogError, match=r"run 'vidseek db upgrade --db-url "):
            IndexReader(root, db_url=db_url)
        upgrade_index_catalog(root, db_url=db_url)
    as_before_migrations(db_url)
    with pytest.raises(IndexCatalogError, match=r"run 'vidseek db upgrade --db-url '(sqlite|postgresql\+psycopg://\w+:\*\*\*@)"):
        IndexReader(root, db_url=db_url)
    assert upgrade_index_catalog(root, db_url=db_url) == (None, head_revision())
    IndexReader(root, db_url=db_url).close()
    assert inspect(create_engine(db_url)).has_table("alembic_version")
