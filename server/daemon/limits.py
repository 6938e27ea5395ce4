"""Protocol 2's numbers: version, ticks, and every limit, with the table docs/osc-protocol.md
shows (generated from LIMITS), so the document and the server cannot disagree."""

from __future__ import annotations

from . import oscwire

PROTOCOL_VERSION = 2
PREFIX = "/midigen"
TICKS = 96  # per quarter note: the model's finest step (1/8 of its 1/12-quarter grid)
INT32 = 2**31 - 1

# Limits. The doc's limits table is generated from LIMITS.
NOTES_PER_MESSAGE = 60  # /upload/notes and /notes: 4 + 60 x 4 = 244 atoms, under Max's 256
MAX_CHUNKS = 20_000
MAX_TRACKS = 32
MAX_BARS = 512
MAX_NOTES = 20_000  # per uploaded piece
MAX_SELECTIONS = 64
MAX_NEW_BARS = 64  # windows.MAX_NEW_BARS (a test checks they agree)
MAX_VARIATIONS = 16  # generation.MAX_VARIATIONS (a test checks they agree)
MAX_NAME = 64
DEFAULT_QUEUE = 16  # jobs waiting, all clients; --max-queue changes it
QUEUE_PER_CLIENT = 8
PIECES_PER_CLIENT = 8
STORED_NOTES = 400_000  # notes of all clients' pieces
UPLOAD_IDLE_S = 60  # an unfinished upload idle this long is dropped
PIECE_IDLE_S = 30 * 60  # a complete piece unused this long is dropped
RESULTS_PER_CLIENT = 16
RESULTS_KEPT = 256
RESULT_TTL_S = 15 * 60
MAX_CLIENTS = 64
HEARTBEAT_S = 10  # a client with live jobs sends something this often...
SILENT_S = 30  # ...and its live jobs are cancelled ("gone") after this much silence
UNREACHABLE_GRACE_S = 3  # or this long after a reply bounced (ICMP port unreachable)
REFUSALS_PER_S = 20  # per host
REPLAY_BURST, REPLAY_GAP_MS = 4, 25  # paced /result: 4 datagrams, then 25 ms
LIVE_BURST, LIVE_PER_S = 64, 400  # a job's live replies: at once up to this, then paced
LIVE_BACKLOG = 8192  # live replies waiting per client; beyond, bars are dropped (see /result)
UPLOAD_BURST, UPLOAD_GAP_MS = 32, 20  # clients' upload pacing: 32 datagrams, then 20 ms
RCVBUF = 4 << 20  # the server asks the OS for this receive buffer; /welcome says what it got

LIMITS: list[tuple[str, str, str]] = [
    ("incoming datagram", f"{oscwire.MAX_IN:,} bytes",
     f"bundles nest <= {oscwire.MAX_DEPTH} deep, <= {oscwire.MAX_MESSAGES} messages in all"),
    ("notes per /upload/notes and per /notes", str(NOTES_PER_MESSAGE), "244 atoms"),
    ("chunks per upload", f"{MAX_CHUNKS:,}", ""),
    ("tracks / bars per piece", f"{MAX_TRACKS} / {MAX_BARS}", f"continue adds <= {MAX_NEW_BARS}"),
    ("notes per piece", f"{MAX_NOTES:,}", ""),
    ("selections per job / variations", f"{MAX_SELECTIONS} / {MAX_VARIATIONS}", ""),
    ("track name", f"{MAX_NAME} characters", ""),
    ("waiting jobs", f"{QUEUE_PER_CLIENT} per client, {DEFAULT_QUEUE} in all",
     "`--max-queue`; then `queue_full`"),
    ("pieces per client", str(PIECES_PER_CLIENT),
     "open or complete; the least recently used goes first"),
    ("notes stored, all pieces", f"{STORED_NOTES:,}",
     "least recently used complete piece evicted; else `too_large`"),
    ("unfinished upload idle", f"{UPLOAD_IDLE_S} s", "then dropped (checked every second)"),
    ("complete piece idle", f"{PIECE_IDLE_S // 60} min", "then dropped"),
    ("results kept", f"{RESULTS_PER_CLIENT} per client, {RESULTS_KEPT} in all",
     f"dropped {RESULT_TTL_S // 60} min after the job ended"),
    ("clients known", str(MAX_CLIENTS), "the longest-silent without live jobs is forgotten"),
    ("liveness", f"a message every {HEARTBEAT_S} s while a job is live",
     f"live jobs are cancelled (`gone`) after {SILENT_S} s of silence"),
    ("error text", "200 characters", "quoting <= 40 characters of the input"),
    ("refusals sent, pongs sent", f"{REFUSALS_PER_S} per second per host each",
     "`--max-refusals`; the rest are counted"),
    ("replay pacing", f"{REPLAY_BURST} datagrams per {REPLAY_GAP_MS} ms", "one replay per client"),
    ("live replies", f"bursts of {LIVE_BURST}, then {LIVE_PER_S} datagrams/s per client",
     f"only a fast device reaches it; beyond {LIVE_BACKLOG:,} waiting, bars are dropped"),
    ("upload pacing (clients)", f"{UPLOAD_BURST} datagrams per {UPLOAD_GAP_MS} ms", ""),
    ("ticks per quarter note", str(TICKS), "all note and bar times"),
]  # fmt: skip
