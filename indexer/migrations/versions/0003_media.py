"""What each file is and what the preview stage made for it: kind (video or photo), container and codecs as
probed, whether a browser plays the original, the sizes of its preview and sprite sheet, and a preview's error.

Columns are added in place (``ALTER TABLE ADD COLUMN``), as in 0002: a rebuilt SQLite table would lose
``AUTOINCREMENT``. Rows from before this revision are videos (``kind`` defaults to 'video') not probed yet: the
next build's preview stage probes them without re-embedding anything.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = ("kind", "container", "codec", "audio_codecs", "playable", "preview_bytes", "sprite_bytes", "preview_error")


def upgrade() -> None:
    op.add_column("videos", sa.Column("kind", sa.String(8), nullable=False, server_default="video"))
    op.add_column("videos", sa.Column("container", sa.String(64), nullable=True))
    op.add_column("videos", sa.Column("codec", sa.String(32), nullable=True))
    op.add_column("videos", sa.Column("audio_codecs", sa.String(128), nullable=True))
    op.add_column("videos", sa.Column("playable", sa.Boolean(), nullable=True))
    op.add_column("videos", sa.Column("preview_bytes", sa.BigInteger(), nullable=True))
    op.add_column("videos", sa.Column("sprite_bytes", sa.BigInteger(), nullable=True))
    op.add_column("videos", sa.Column("preview_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("videos", recreate="never") as batch:  # SQLite >= 3.35 drops columns in place
        for column in reversed(COLUMNS):
            batch.drop_column(column)
