"""The words files carry, searchable: one row per subtitle cue of a segment (a cue over a cut is a row for each side)
and per name or title of a video, in ``texts``, with a full-text index over them: FTS5 (bm25) in SQLite, a
``tsvector`` column with a GIN index (``ts_rank``) in PostgreSQL. Per video: when it was made (its container's
creation time, else the file's mtime), its folder in the library, whether it has subtitles, and the stamp of what
its texts were read from (None: not read yet; the next build's text stage reads them without re-embedding).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = ("created", "folder", "has_subtitles", "texts_stamp")
# External-content FTS5: the index keeps no copy of the words; triggers keep it in step with ``texts``.
SQLITE_FTS = [
    "DROP TABLE IF EXISTS texts_fts",  # an index left by tables dropped without it: derived data, made again
    "CREATE VIRTUAL TABLE texts_fts USING fts5(body, content='texts', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER texts_fts_insert AFTER INSERT ON texts BEGIN "
    "INSERT INTO texts_fts(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER texts_fts_delete AFTER DELETE ON texts BEGIN "
    "INSERT INTO texts_fts(texts_fts, rowid, body) VALUES ('delete', old.id, old.body); END",
    "CREATE TRIGGER texts_fts_update AFTER UPDATE ON texts BEGIN "
    "INSERT INTO texts_fts(texts_fts, rowid, body) VALUES ('delete', old.id, old.body); "
    "INSERT INTO texts_fts(rowid, body) VALUES (new.id, new.body); END",
]


def upgrade() -> None:
    op.add_column("videos", sa.Column("created", sa.DateTime(timezone=True), nullable=True))
    op.add_column("videos", sa.Column("folder", sa.String(4096), nullable=True))
    op.add_column("videos", sa.Column("has_subtitles", sa.Boolean(), nullable=True))
    op.add_column("videos", sa.Column("texts_stamp", sa.Text(), nullable=True))
    op.create_index("ix_videos_created", "videos", ["created"])
    op.create_table(
        "texts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("video_id", sa.Integer(), sa.ForeignKey("videos.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("segment_id", sa.Integer(), sa.ForeignKey("segments.id", ondelete="CASCADE"), nullable=True, index=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("start_time", sa.Float(), nullable=True),
        sa.Column("end_time", sa.Float(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sqlite_autoincrement=True,
    )
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)
    elif op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE texts ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED")
        op.execute("CREATE INDEX ix_texts_tsv ON texts USING GIN (tsv)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("texts_fts_update", "texts_fts_delete", "texts_fts_insert"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS texts_fts")
    op.drop_table("texts")
    op.drop_index("ix_videos_created", "videos")
    with op.batch_alter_table("videos", recreate="never") as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column)
