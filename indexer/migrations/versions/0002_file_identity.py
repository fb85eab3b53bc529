"""Videos record which file was indexed (device and inode), and sizes past 2 GiB fit on every database.

The server serves a video only while its path still leads to the file that was indexed (same device and
inode, size and mtime: ``indexer.index_dir.reader.IndexReader.open_video_file``). Rows written before this revision have
no device or inode (NULL): they are checked on size and mtime alone until the next build fills them in
(without re-embedding: the files' fingerprints are unchanged).

Columns are added in place (``ALTER TABLE ADD COLUMN``), never by rebuilding the table: a rebuilt SQLite
table would lose ``AUTOINCREMENT``, and segment ids must never be reused. ``size`` becomes 64-bit where an
INTEGER is 32-bit (PostgreSQL); SQLite's INTEGER is 64-bit already.

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("videos", sa.Column("device", sa.BigInteger(), nullable=True))
    op.add_column("videos", sa.Column("inode", sa.BigInteger(), nullable=True))
    if op.get_context().dialect.name != "sqlite":
        op.alter_column("videos", "size", type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False)


def downgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        op.alter_column("videos", "size", type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=False)
    with op.batch_alter_table("videos", recreate="never") as batch:  # SQLite >= 3.35 drops columns in place
        batch.drop_column("inode")
        batch.drop_column("device")
