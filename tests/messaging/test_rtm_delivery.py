"""Delivery over real sockets: order and no loss across concurrent senders and a reconnect,
deduplicated retries, offline peer delivery and history paging (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

from hubbub.messaging import NewMessage
from hubbub.schema import messaging as rtm
from hubbub.sdk.messaging import RtmClient, connect_rtm


async def _collect(client: RtmClient, channel: str, count: int, timeout: float = 20.0) -> list[rtm.Message]:
    got: list[rtm.Message] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(got) < count:
        event = await client.next_event(timeout=max(0.01, deadline - loop.time()))
        if isinstance(event, rtm.MessageEvent) and event.message.channel == channel:
            got.append(event.message)
    return got


async def test_order_and_no_loss_with_concurrent_senders_and_a_reconnecting_receiver(live_rtm: Any) -> None:
    live = await live_rtm(messages_per_s=500, burst=500)
    watcher = await connect_rtm(live.url, live.token("watcher"))
    mover = await connect_rtm(live.url, live.token("mover"))
    await watcher.subscribe("room", presence=False)
    await mover.subscribe("room", presence=False)
    senders = [await connect_rtm(live.url, live.token(f"s{i}")) for i in range(4)]
    for s in senders:
        await s.subscribe("room", presence=False)
    per_sender = 30

    async def send_all(i: int, s: RtmClient) -> list[rtm.Ack]:
        acks = []
        for n in range(per_sender):
            acks.append(await s.send("room", data={"s": i, "n": n}))
            if n == 10 and i == 0:
                assert mover._ws is not None
                mover._ws.transport.abort()  # the receiver's network drops mid-stream
        return acks

    results = await asyncio.gather(*(send_all(i, s) for i, s in enumerate(senders)))
    acks = [a for r in results for a in r]
    total = per_sender * len(senders)
    assert sorted(a.seq for a in acks) == list(range(1, total + 1))
    assert not any(a.duplicate for a in acks)

    for client in (watcher, mover):
        got = await _collect(client, "room", total)
        assert [m.seq for m in got] == list(range(1, total + 1))  # same order everywhere, no gap, no duplicate
        for i in range(len(senders)):  # each sender's own order kept
            assert [m.data["n"] for m in got if m.data["s"] == i] == list(range(per_sender))
    assert mover.reconnects >= 1
    for c in (watcher, mover, *senders):
        await c.close()


async def test_retried_send_is_stored_once(live_rtm: Any) -> None:
    live = await live_rtm()
    alice = await connect_rtm(live.url, live.token("alice"))
    await alice.subscribe("dedupe")
    first = await alice.send("dedupe", text="once", client_msg_id="cid-1")
    again = await alice.send("dedupe", text="once", client_msg_id="cid-1")
    assert (again.id, again.seq, again.duplicate) == (first.id, first.seq, True)
    page = await alice.history("dedupe")
    assert [m.text for m in page.messages] == ["once"]
    await alice.close()


async def test_offline_peer_gets_messages_at_next_login_once(live_rtm: Any) -> None:
    live = await live_rtm()
    alice = await connect_rtm(live.url, live.token("alice"))
    ack = await alice.send_peer("bob", text="while you were away")
    assert ack.to == "bob"
    bob = await connect_rtm(live.url, live.token("bob"))
    event = await bob.next_event(timeout=5)
    assert isinstance(event, rtm.PeerMessageEvent)
    assert (event.message.text, event.message.sender, event.message.offline) == ("while you were away", "alice", True)
    live_msg = await alice.send_peer("bob", text="now live")
    event = await bob.next_event(timeout=5)
    assert isinstance(event, rtm.PeerMessageEvent) and event.message.id == live_msg.id
    assert not event.message.offline
    await asyncio.sleep(0.3)  # the SDK acknowledges what it delivered
    await bob.close()
    bob2 = await connect_rtm(live.url, live.token("bob"))
    await bob2.subscribe("x", presence=False)  # a round trip: anything pending would have arrived before it
    assert bob2.events.empty()
    await bob2.close()
    await alice.close()


async def test_history_paging_by_seq_and_time(live_rtm: Any) -> None:
    live = await live_rtm()
    svc = live.service
    for n in range(25):
        await svc.send(None, "hist", NewMessage(live.app_id, "server", text=f"m{n}"))
    reader = await connect_rtm(live.url, live.token("reader"))
    newest = await reader.history("hist", limit=10)
    assert [m.seq for m in newest.messages] == list(range(16, 26)) and newest.has_more
    older = await reader.history("hist", before_seq=16, limit=10)
    assert [m.seq for m in older.messages] == list(range(6, 16)) and older.has_more
    oldest = await reader.history("hist", before_seq=6, limit=10)
    assert [m.seq for m in oldest.messages] == list(range(1, 6)) and not oldest.has_more
    forward = await reader.history("hist", after_seq=20, limit=10)
    assert [m.text for m in forward.messages] == ["m20", "m21", "m22", "m23", "m24"] and not forward.has_more
    ts = newest.messages[0].ts
    by_time = await reader.history("hist", since_ts=ts, limit=100)
    assert all(m.ts >= ts for m in by_time.messages) and by_time.messages
    assert (await reader.history("hist", until_ts=0.0)).messages == []
    await reader.close()


async def test_presence_typing_unread_and_delete(live_rtm: Any) -> None:
    live = await live_rtm()
    ann = await connect_rtm(live.url, live.token("ann"))
    ben = await connect_rtm(live.url, live.token("ben"))
    await ann.subscribe("lobby")
    await ben.subscribe("lobby")
    change = await ann.next_event(timeout=5)
    assert isinstance(change, rtm.Presence) and change.changes[0].user_id == "ben"
    await ben.set_presence({"mood": "busy"})
    change = await ann.next_event(timeout=5)
    assert isinstance(change, rtm.Presence) and change.changes[0].attrs == {"mood": "busy"}
    assert {m.user_id for m in await ann.presence("lobby")} == {"ann", "ben"}
    await ben.typing("lobby")
    typing = await ann.next_event(timeout=5)
    assert isinstance(typing, rtm.TypingEvent) and typing.user_id == "ben"
    a1 = await ben.send("lobby", text="one")
    await ben.send("lobby", text="two")
    assert await ann.unread(["lobby"]) == {"lobby": 2}
    await ann.mark_read("lobby", a1.seq)
    assert await ann.unread(["lobby"]) == {"lobby": 1}
    await ben.delete("lobby", a1.id)
    page = await ann.history("lobby")
    assert [(m.seq, m.deleted, m.text) for m in page.messages] == [(1, True, None), (2, False, "two")]
    await ben.close()
    left = None
    for _ in range(10):
        left = await ann.next_event(timeout=5)
        if isinstance(left, rtm.Presence) and left.changes[0].state == rtm.PresenceState.offline:
            break
    assert isinstance(left, rtm.Presence) and left.changes[0].user_id == "ben"
    await ann.close()
