"""Mastodon.py (pinned by `deploy/stack test`) against the front door's
Mastodon origin, unmodified: app, registration, login, statuses, replies,
favourites, reblogs, edits, deletes, follows, the home timeline paged by
`fetch_next`, favourites, notifications (dismissed and cleared) and the
markers. Exits non-zero, naming the
step, on the first thing that is not as Mastodon would answer.

Usage: python mastodon_py_scenario.py http://social.localhost:PORT RUN_ID
"""

import sys
import time

import localhost_resolver  # noqa: F401  (must come before the clients)
from mastodon import Mastodon, MastodonNotFoundError, StreamListener

BASE, RUN = sys.argv[1], sys.argv[2]
STARTED = time.monotonic()
PASSWORD = "a long passphrase for tests"


def check(what, condition):
    if not condition:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok: {what} ({time.monotonic() - STARTED:.1f} s)", flush=True)


def eventually(what, probe, seconds=30):
    """Another account's writes reach a reader through the pipeline: wait
    for them (bounded). A client's own writes need no wait."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value:
            print(f"ok: {what} ({time.monotonic() - STARTED:.1f} s)", flush=True)
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"FAILED: {what} (waited {seconds} s)")
        time.sleep(0.2)


client_id, client_secret = Mastodon.create_app(
    f"scenario {RUN}", api_base_url=BASE, scopes=["read", "write", "follow", "push"]
)
check("an app is created", bool(client_id) and bool(client_secret))


def register(name):
    api = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=BASE)
    api.create_account(f"{name}_{RUN}", PASSWORD, f"{name}_{RUN}@example.org", agreement=True)
    return api


alice = register("alice")
bob = register("bob")
me = alice.account_verify_credentials()
check("registration logs the new account in", me.username == f"alice_{RUN}")
check("verify_credentials carries source", me.source.privacy == "public")

# A password login, as Mastodon.py does it (the email is the username).
bob_again = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=BASE)
bob_again.log_in(f"bob_{RUN}@example.org", PASSWORD, allow_http=True)
bob_me = bob_again.account_verify_credentials()
check("the password grant logs in", bob_me.username == f"bob_{RUN}")

looked_up = alice.account_lookup(f"bob_{RUN}")
check("lookup finds an account", looked_up.id == bob_me.id)
found = alice.search_v2(f"bob_{RUN}", result_type="accounts")
check("search finds an account", [a.id for a in found.accounts] == [bob_me.id])

relationship = alice.account_follow(bob_me.id)
check("follow answers the relationship", relationship.following)
check("relationships agree", alice.account_relationships(bob_me.id)[0].following)

posted = [bob.status_post(f"post {i} of {RUN}") for i in range(26)]
check("statuses are created", len(posted) == 26 and posted[0].content == f"<p>post 0 of {RUN}</p>")

expected = [s.id for s in reversed(posted)]
eventually("the posts reach the follower's home timeline",
           lambda: [s.id for s in alice.timeline_home(limit=40)] == expected)
page = alice.timeline_home(limit=10)
seen = []
while page:
    seen += [s.id for s in page]
    page = alice.fetch_next(page)
check("the home timeline pages through every post by fetch_next, newest first", seen == expected)

first = posted[0]
reply = alice.status_post(f"a reply of {RUN}", in_reply_to_id=first.id)
check("a reply names its parent", reply.in_reply_to_id == first.id)
eventually("the context lists the reply",
           lambda: [s.id for s in bob.status_context(first.id).descendants] == [reply.id])

favourited = alice.status_favourite(first.id)
check("favourite answers the status, favourited", favourited.favourited and favourited.favourites_count == 1)
reblog = alice.status_reblog(posted[1].id)
check("reblog answers the reblog, wrapping the status", reblog.reblog.id == posted[1].id)
unreblogged = alice.status_unreblog(posted[1].id)
check("unreblog answers the status", not unreblogged.reblogged)
unfavourited = alice.status_unfavourite(first.id)
check("unfavourite answers the status", not unfavourited.favourited)
alice.status_favourite(first.id)

edited = bob.status_update(first.id, f"edited {RUN}")
check("an edit answers the edited status", edited.edited_at is not None)
eventually("a reader sees the edit",
           lambda: alice.status(first.id).content == f"<p>edited {RUN}</p>")
seen_status = alice.status(first.id)
check("a reader sees their favourite", seen_status.favourited)
for status in posted[3:6]:
    alice.status_favourite(status.id)
newest = alice.favourites(limit=2)
favourites = newest + (alice.fetch_next(newest) or [])
check("favourites list the liked statuses, newest like first, paged by Link",
      [s.id for s in favourites] == [posted[5].id, posted[4].id, posted[3].id, first.id])
alice.status_unfavourite(posted[4].id)
check("an undone favourite leaves the list at once",
      [s.id for s in alice.favourites()] == [posted[5].id, posted[3].id, first.id])
alice.status_reblog(posted[3].id)
eventually("favourited_by lists who favourites a status",
           lambda: [a.id for a in bob.status_favourited_by(first.id)] == [me.id])
eventually("reblogged_by lists who reblogs a status",
           lambda: [a.id for a in bob.status_reblogged_by(posted[3].id)] == [me.id])
check("an undone reblog is not listed", bob.status_reblogged_by(posted[1].id) == [])

deleted = bob.status_delete(posted[2].id)
check("delete answers the status with its text", deleted.text == f"post 2 of {RUN}")


def gone(status_id):
    try:
        alice.status(status_id)
        return False
    except MastodonNotFoundError:
        return True


eventually("a deleted status is gone", lambda: gone(posted[2].id))

eventually("notifications of a follow, a favourite and a reply arrive",
           lambda: {"follow", "favourite", "mention"} <= {n.type for n in bob.notifications()})
notifications = bob.notifications()
mentions = bob.notifications(types=["mention"])
check("types[] filters notifications", {n.type for n in mentions} == {"mention"})
bob.markers_set("notifications", notifications[0].id)
markers = bob.markers_get("notifications")
check("the notifications marker is kept", str(markers.notifications.last_read_id) == str(notifications[0].id))
alice.markers_set(["home", "notifications"], [posted[0].id, 7])
markers = alice.markers_get(["home", "notifications"])
check("the home marker is kept beside the notifications one",
      str(markers.home.last_read_id) == str(posted[0].id)
      and str(markers.notifications.last_read_id) == "7")
check("markers answer only the timelines asked for",
      set(alice.markers_get("home").keys()) == {"home"})
oldest = notifications[-1]
bob.notifications_dismiss(oldest.id)
check("a dismissed notification is gone at once",
      all(n.id != oldest.id for n in bob.notifications()))
bob.notifications_clear()
check("a cleared inbox is empty at once", bob.notifications() == [])

statuses = alice.account_statuses(bob_me.id, limit=5)
check("an account's statuses page", len(statuses) == 5)
eventually("followers list the follower",
           lambda: [a.id for a in bob.account_followers(bob_me.id)] == [me.id])



class Collect(StreamListener):
    def __init__(self):
        self.updates = []
        self.notifications = []

    def on_update(self, status):
        self.updates.append(status)

    def on_notification(self, notification):
        self.notifications.append(notification)


check("the streaming API is healthy", alice.stream_healthy())
over_sse = Collect()
sse = alice.stream_user(over_sse, run_async=True)
over_socket = Collect()
socket = alice.stream_open_websocket()
alice.stream_user(over_socket, websocket_handle=socket)
time.sleep(1)
live = bob.status_post(f"live {RUN}")
bob.status_favourite(reply.id)
for name, listener in [("SSE", over_sse), ("WebSocket", over_socket)]:
    eventually(f"the user stream over {name} delivers the new status",
               lambda: any(u.id == live.id for u in listener.updates))
    eventually(f"the user stream over {name} delivers the notification",
               lambda: any(n.type == "favourite" for n in listener.notifications))
sse.close()
socket.close()

relationship = alice.account_unfollow(bob_me.id)
check("unfollow answers the relationship", not relationship.following)
check("instance answers a semver version", alice.instance().version.startswith("4."))
stats = alice.instance_v1().stats
check("instance counts the accounts and statuses",
      stats.user_count >= 2 and stats.status_count >= 5)
print("scenario passed")
