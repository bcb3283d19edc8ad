#!/usr/bin/env python3
"""Groups the samples of `perf script -F pid,ip,sym,dso` (bench/profile.sh's
stacks.txt) of the given processes by where they were spent, and turns the
shares into µs per call when given the CPU per call.

    bench/profile_families.py inkan STACKS SERVER_PID [US_PER_CALL]
    bench/profile_families.py postgres STACKS PID,PID,... [US_PER_CALL]

inkan (no frame pointers): by the leaf function's family, first match of
INKAN wins; kernel samples by the system call on their stack. PostgreSQL:
by the innermost frame of its stack that names a phase (POSTGRES_PHASES).
What matches nothing is "the rest". The leaves of each group go to stderr.
"""

import re
import sys

INKAN = [
    ("kernel: scheduler, futex, wake-ups", r"kernel.*(schedule|futex|switch_to|finish_task|try_to_wake|enqueue|dequeue|_raw_spin|update_curr|update_load|pick_next|select_task|ttwu|psi_|native_queued|__wake_up|ep_poll|do_epoll|idle|cpuidle)"),
    ("kernel: TCP/loopback, syscalls, memory", r"kernel"),
    ("SQLite (VDBE, B-tree, page cache, WAL)", r"(sqlite3|libsqlite|^\S+ wal[A-Z]|pcache|balance_|[Bb]tree|[Vv]dbe|unixRead|unixWrite|unixSync|^\S+ (moveToChild|getPageNormal|pager|Pager|insertCell|fillInCell|dropCell|computeCellSize|cellSize|defragmentPage|allocateSpace|pageInsertArray|editPage|rebuildPage|decodeFlags|accessPayload|freeSpace|yy_|parseCell|btreeParseCell|whereLoop|exprAnalyze|vdbeRecord|serialGet|walChecksum|walIndex|walFind))"),
    ("malloc/free", r"(malloc|free|realloc|calloc|_int_|tcache|cfree|arena|unlink_chunk|__libc_memalign|sdallocx|mi_|je_)"),
    ("memcpy/memmove/memcmp/strlen", r"(memmove|memcpy|memcmp|memset|strlen|memchr|bcmp)"),
    ("TLS to PostgreSQL (rustls)", r"(rustls|tls13|Tls13|aes|gcm|ghash|chacha20_poly1305|aws_lc_0_\d+_\d+_(aes|gcm|CRYPTO_gcm))"),
    ("EdDSA/ECDSA signing, SHA-2, base64, RNG", r"(curve25519|ed25519|sha2|sha256|sha512|Sha256|Sha512|p256|ecdsa|aws_lc|\bring::|ring_core|base64|fiat_|scalar|Edwards|rand|chacha|getrandom|sha512_block|sha256_block)"),
    ("sqlx PostgreSQL protocol, SeaORM, sea-query", r"(sqlx|sea_orm|sea_query|PgConnection|PgRow|postgres::)"),
    ("h2, hyper, tonic, tower, prost, http", r"(h2::|hyper|tonic|tower|prost|http::|bytes::|axum)"),
    ("tokio runtime and channels", r"(tokio|mio|parking_lot|crossbeam|futures_|std::sync|std::thread|event_listener|async_io|Notify)"),
    ("JSON, logging, formatting, UTF-8", r"(serde|json|tracing|core::fmt|fmt::|alloc::fmt|from_utf8|utf8|itoa|ryu|Display|Debug|write_str|chrono|humantime|time::)"),
    ("glibc other (pthread, clock)", r"libc\.so"),
    ("inkan's own code", r"inkan"),
]

# PostgreSQL is built with frame pointers, so its samples carry whole
# stacks: a sample goes to the phase of the innermost frame that names one.
POSTGRES_PHASES = [
    ("commit: WAL write and fdatasync", r"^(XLogFlush|XLogWrite|issue_xlog_fsync|XLogBackgroundFlush|pg_fdatasync|__x64_sys_fdatasync|__x64_sys_pwrite64)$"),
    ("WAL records (XLogInsert)", r"^(XLogInsert|XLogInsertRecord|XLogRecordAssemble|XLogBeginInsert|CopyXLogRecordToWAL|ReserveXLogInsertLocation)$"),
    ("index entries (btree inserts)", r"^(ExecInsertIndexTuples|index_insert|btinsert|_bt_doinsert)$"),
    ("heap writes (insert, update, prune)", r"^(heap_insert|heap_update|heap_lock_tuple|heap_page_prune_opt|heap_page_prune|heapam_tuple_insert|heapam_tuple_update|heap_multi_insert|RelationGetBufferForTuple)$"),
    ("network (recv, send, epoll)", r"^(__x64_sys_sendto|__x64_sys_recvfrom|__x64_sys_epoll_wait|__x64_sys_epoll_pwait|secure_read|secure_write|pq_recvbuf|internal_flush|socket_flush|WaitEventSetWait)$"),
    ("scheduler, futex, semaphores", r"^(__x64_sys_futex|__x64_sys_semop|__x64_sys_semtimedop|schedule|PGSemaphoreLock|ProcSleep|LWLockAcquire)$"),
    ("commit: transaction bookkeeping", r"^(CommitTransaction|CommitTransactionCommand|StartTransaction|StartTransactionCommand|finish_xact_command|start_xact_command|AbortTransaction)$"),
    ("planning (Bind: plan for these arrays)", r"^(pg_plan_queries|pg_plan_query|planner|standard_planner|BuildCachedPlan|GetCachedPlan|choose_custom_plan)$"),
    ("parse, analyze, rewrite", r"^(pg_parse_query|raw_parser|parse_analyze_fixedparams|parse_analyze_varparams|pg_analyze_and_rewrite_fixedparams|pg_analyze_and_rewrite_varparams|pg_rewrite_query|CompleteCachedPlan|CreateCachedPlan|exec_parse_message|RevalidateCachedQuery)$"),
    ("executor start and end (plan instantiation)", r"^(ExecutorStart|standard_ExecutorStart|InitPlan|ExecInitNode|ExecutorEnd|standard_ExecutorEnd|ExecEndNode|ExecutorFinish|standard_ExecutorFinish|CreatePortal|PortalDrop|PortalStart)$"),
    ("executor: scans, joins, CTEs, expressions", r"^(ExecutorRun|standard_ExecutorRun|PortalRun|PortalRunMulti|PortalRunSelect|ExecProcNode|ExecModifyTable)$"),
    ("protocol: bind, describe, row out", r"^(exec_bind_message|exec_describe_statement_message|exec_describe_portal_message|exec_execute_message|printtup|SendRowDescription|ReadCommand|PostgresMain|pq_getmessage|exec_simple_query)$"),
    ("memory contexts (palloc, reset, delete)", r"^(MemoryContextReset|MemoryContextDelete|MemoryContextResetOnly|palloc|palloc0|AllocSetAlloc|AllocSetFree|AllocSetReset|AllocSetDelete)$"),
]


def stacks(path, pids):
    """(pid, [(symbol, dso), ...] leaf first) for each sample of `pids`."""
    pid, frames = None, []
    for line in open(path, encoding="utf-8", errors="replace"):
        if not line.strip():
            if pid is not None:
                yield pid, frames
            pid, frames = None, []
        elif not line.startswith("\t"):
            pid, frames = line.split()[0], []
        else:
            parts = line.strip().split(" ", 1)
            rest = parts[1] if len(parts) > 1 else ""
            sym, _, dso = rest.rpartition(" (")
            frames.append((re.sub(r"\+0x[0-9a-f]+$", "", sym), dso.rstrip(")")))
    if pid is not None:
        yield pid, frames


def classify_inkan(frames):
    if not frames:
        return "the rest"
    sym, dso = frames[0]
    if "kernel" in dso:
        names = " ".join(s for s, _ in frames)
        if re.search(r"__x64_sys_(futex|sched_yield|epoll)|schedule|try_to_wake_up|finish_task_switch", names) and not re.search(r"tcp_|sock_", names):
            return "kernel: scheduler, futex, wake-ups"
        if re.search(r"__x64_sys_(sendto|recvfrom|writev|write|read|readv)|tcp_|sock_|net_rx", names):
            return "kernel: TCP over loopback (send, recv, wake the reader)"
        if re.search(r"__x64_sys_(fsync|fdatasync|pwrite64|pread64)|ext4_|jbd2|blk_|virtio", names):
            return "kernel: file I/O (pwrite, pread, fsync of the SQLite files)"
        if re.search(r"madvise|munmap|mmap|brk|page_fault|unmap_page|exc_page", names):
            return "kernel: memory (page faults, madvise/munmap from free)"
        return "kernel: other"
    key = f"{dso.rsplit('/', 1)[-1]} {sym}"
    for name, pattern in INKAN:
        if not name.startswith("kernel") and re.search(pattern, key):
            return name
    return "the rest"


def classify_postgres(frames):
    for sym, dso in frames:
        if re.search(r"libssl|libcrypto", dso) or re.search(r"^(be_tls_|secure_raw_)", sym):
            return "TLS (the connection is encrypted: sslmode prefer)"
        for name, pattern in POSTGRES_PHASES:
            if re.search(pattern, sym):
                return name
    return "the rest"


def main() -> None:
    kind, path, pids = sys.argv[1], sys.argv[2], set(sys.argv[3].split(","))
    per_call = float(sys.argv[4]) if len(sys.argv) > 4 else None
    classify = classify_inkan if kind == "inkan" else classify_postgres
    counts, leaves = {}, {}
    total = 0
    for pid, frames in stacks(path, pids):
        if pid not in pids:
            continue
        total += 1
        name = classify(frames)
        counts[name] = counts.get(name, 0) + 1
        leaf = frames[0][0] if frames else "?"
        leaves.setdefault(name, {}).setdefault(leaf, 0)
        leaves[name][leaf] += 1
    head = f"| where | share | µs of {per_call:.0f} |" if per_call else "| where | share | samples (ms) |"
    print(head)
    print("|---|---:|---:|")
    for name, n in sorted(counts.items(), key=lambda r: -r[1]):
        pct = 100 * n / total
        last = f"{per_call * n / total:.0f}" if per_call else f"{n}"
        print(f"| {name} | {pct:.1f} % | {last} |")
    print(f"\n{total} samples", file=sys.stderr)
    for name, n in sorted(counts.items(), key=lambda r: -r[1]):
        top = sorted(leaves[name].items(), key=lambda r: -r[1])[:6]
        print(f"  {name}: " + ", ".join(f"{s} {c}" for s, c in top), file=sys.stderr)


if __name__ == "__main__":
    main()
