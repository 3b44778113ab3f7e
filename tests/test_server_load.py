"""Load, bounded and on loopback: concurrent POST clients while the npm `ldes-client` replicates.
No request fails; the replica taken during the load holds only members that were posted, each
once; a replica taken after it holds every acknowledged member (on SQLite and on PostgreSQL).

(A second client run on the first one's saved state would not do for the second check: the
client does not fetch again a mutable page it has seen unless it runs with `--follow`, which
never ends.)"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from ldes_data import member_iri, members_nt
from test_interop import replicate
from test_server_live import create_stream, request, running

CLIENTS, POSTS, EACH = 4, 20, 5


def test_concurrent_ingest_while_a_client_replicates(tmp_path, store_url):
    acknowledged: set[str] = set()
    lock = threading.Lock()
    with running(store_url) as url:
        create_stream(url, page=6)
        assert request(url + "observations", members_nt(0, 30).encode())[0] == 201
        acknowledged |= {member_iri(i) for i in range(30)}

        def post(c: int) -> None:
            for k in range(POSTS):
                start = 1000 + 1000 * c + EACH * k
                status, body = request(url + "observations", members_nt(start, EACH).encode())
                assert status == 201, body
                with lock:
                    acknowledged.update(member_iri(i) for i in range(start, start + EACH))

        with ThreadPoolExecutor(CLIENTS + 1) as pool:
            posts = [pool.submit(post, c) for c in range(CLIENTS)]
            during = pool.submit(replicate, url + "observations", tmp_path)
            for p in posts:
                p.result(timeout=600)
            during_load = during.result(timeout=600)
        after_load = replicate(url + "observations", tmp_path)

    assert len(acknowledged) == 30 + CLIENTS * POSTS * EACH
    for replica in (during_load, after_load):
        assert len(replica) == len(set(replica)), "a member delivered twice"
    assert set(during_load) <= acknowledged
    assert set(after_load) == acknowledged, sorted(set(after_load) ^ acknowledged)[:5]
