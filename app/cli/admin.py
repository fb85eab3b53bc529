"""``vidseek model inspect`` (what a weights file holds) and ``vidseek db upgrade|current`` (the catalog's schema
revision)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.arguments import settings_for


def add_model_command(commands) -> None:
    model = commands.add_parser("model", help="inspect weights files")
    model.set_defaults(run=cmd_model)
    model_commands = model.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    inspect = model_commands.add_parser(
        "inspect",
        help="say what a weights file holds (format, shapes, preprocessing) and whether it fits a model",
        description="Detect the layout of a weights file (open_clip state dict, released ViFi-CLIP checkpoint, vidseek "
        "fine-tune) and print what was found. With --model, also load it into that architecture.",
    )
    inspect.add_argument("path", type=Path, help="a .pt/.pth/.bin/.safetensors file")
    inspect.add_argument("--model", help="check that the file loads into this open_clip model")


def add_db_command(commands) -> None:
    db = commands.add_parser(
        "db",
        help="inspect or migrate the catalog's schema",
        description="The SQL catalog's schema is versioned (Alembic revisions shipped inside vidseek). 'index build' "
        "migrates the catalog it writes; the server only reads, and refuses a catalog at another revision. After "
        "installing a newer vidseek, 'db upgrade' migrates an existing index's catalog (SQLite inside the index, or "
        "the --db-url / VIDSEEK_DB_URL database).",
    )
    db.set_defaults(run=cmd_db)
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    for name, help_text in (
        ("upgrade", "migrate the catalog to this vidseek's schema revision (creates the schema in an empty database)"),
        ("current", "print the catalog's schema revision and this vidseek's (exit status 1 if they differ)"),
    ):
        action = db_commands.add_parser(name, help=help_text, description=help_text)
        where = action.add_mutually_exclusive_group()
        where.add_argument("--db-url", help="SQLAlchemy URL of the catalog database (default: $VIDSEEK_DB_URL)")
        where.add_argument(
            "--index-dir", type=Path, help="the index whose catalog to use (default: $VIDSEEK_INDEX_DIR or ./vidseek-index)"
        )


def cmd_model(args: argparse.Namespace) -> int:
    from models import load_encoder
    from models.checkpoints import FORMAT_PROMPTS, read_weights

    weights = read_weights(args.path)
    print("\n".join(weights.summary()))
    if args.model:
        # A prompts file is checked against its base's fingerprint, so that base must really be loaded; a ViFi-CLIP
        # checkpoint's missing token embedding may stay random here: only whether the file fits is asked.
        base = "auto" if weights.format == FORMAT_PROMPTS else "none"
        encoder = load_encoder(args.model, str(args.path), "cpu", base=base)
        print(f"fits:        {args.model} (loads; preprocess {encoder.preprocess.to_dict()})")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from indexer.index_dir.catalog import catalog_revision, describe_url, head_revision, revision_problem, upgrade_catalog
    from indexer.index_dir.reader import index_catalog_revision
    from indexer.index_dir.writer import upgrade_index_catalog

    settings = settings_for(args)
    # A database URL (--db-url, or VIDSEEK_DB_URL without --index-dir) names the catalog itself; otherwise the
    # index's manifest says where its catalog is (its own SQLite file, or the VIDSEEK_DB_URL database).
    url = settings.db_url if args.index_dir is None else None
    where = describe_url(url) if url else f"the catalog of {settings.index_dir}"
    head = head_revision()
    if args.db_command == "upgrade":
        before, after = upgrade_catalog(url) if url else upgrade_index_catalog(settings.index_dir, settings.db_url)
        change = "already at" if before == after else f"upgraded from {before or 'no revision'} to"
        print(f"{where}: {change} revision {after}")
        return 0
    current = catalog_revision(url) if url else index_catalog_revision(settings.index_dir, settings.db_url)
    print(f"{where}: revision {current or 'none'}; this vidseek's is {head}")
    upgrade = f"vidseek db upgrade --db-url '{where}'" if url else f"vidseek db upgrade --index-dir {settings.index_dir}"
    problem = revision_problem(current, upgrade)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0
