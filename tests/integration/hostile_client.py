"""A hostile local user's clients for test_hostile.py, run as that user (setpriv). Each mode
prints one JSON object on stdout with what happened.

  slowloris SOCKET N SECONDS   N connections, each sending a message one byte a second
  idle SOCKET N SECONDS        N connections that send nothing
  checknow SOCKET N SECONDS    N connections, each pipelining CheckNow as fast as answered
  holds SOCKET N DURATION [RETRY]
                               N holds, one after the other (retrying TooManyRequests after
                               RETRY seconds, 0.25 by default)
"""
import json
import select
import socket
import sys
import threading
import time

MESSAGE = b'{"method":"io.trnidle.Status"}\0'


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s


def open_many(path, n):
    """(kept, refused): connections the server kept, and how many it refused at once."""
    socks = [connect(path) for _ in range(n)]
    time.sleep(0.5)
    kept, refused = [], 0
    for s in socks:
        r, _, _ = select.select([s], [], [], 0)
        if r:  # TooManyClients and closed, or closed
            refused += 1
            s.close()
        else:
            kept.append(s)
    return kept, refused


def closed(s):
    """Whether the daemon closed s. A close with our trickled bytes still unread arrives as a
    reset (ECONNRESET), which is a close all the same."""
    try:
        return not s.recv(4096)
    except ConnectionResetError:
        return True


def slowloris(path, n, seconds):
    kept, refused = open_many(path, n)
    start = time.monotonic()
    closed_after = []
    live = list(kept)
    i = 0
    while live and time.monotonic() - start < seconds:
        for s in list(live):
            try:
                s.send(MESSAGE[i % (len(MESSAGE) - 1):i % (len(MESSAGE) - 1) + 1])
            except OSError:
                closed_after.append(time.monotonic() - start)
                live.remove(s)
                continue
            r, _, _ = select.select([s], [], [], 0)
            if r and closed(s):
                closed_after.append(time.monotonic() - start)
                live.remove(s)
        i += 1
        time.sleep(1)
    return {"kept": len(kept), "refused": refused, "closed_after": closed_after,
            "still_open": len(live)}


def idle(path, n, seconds):
    kept, refused = open_many(path, n)
    print("ready", flush=True)
    start = time.monotonic()
    dropped = []
    live = list(kept)
    while live and time.monotonic() - start < seconds:
        r, _, _ = select.select(live, [], [], 0.2)
        for s in r:
            if closed(s):
                dropped.append(time.monotonic() - start)
                live.remove(s)
    return {"kept": len(kept), "refused": refused, "dropped_after": dropped}


def recv_message(s, buf):
    while b"\0" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            return None
        buf += chunk
    i = buf.index(b"\0")
    msg = bytes(buf[:i])
    del buf[:i + 1]
    return json.loads(msg)


def checknow(path, n, seconds):
    answered = [0]
    errors = []
    stop = time.monotonic() + seconds

    def flood():
        try:
            s = connect(path)
            buf = bytearray()
            while time.monotonic() < stop:
                s.sendall(b'{"method":"io.trnidle.CheckNow"}\0' * 20)
                for _ in range(20):
                    m = recv_message(s, buf)
                    if m is None:
                        errors.append("closed")
                        return
                    if "error" in m:
                        errors.append(m["error"])
                    answered[0] += 1
        except OSError as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=flood) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    return {"answered": answered[0], "errors": errors[:10]}


def holds(path, n, duration, retry=0.25):
    s = connect(path)
    buf = bytearray()
    results = []
    while len(results) < n:
        s.sendall(json.dumps({"method": "io.trnidle.Hold",
                              "parameters": {"duration": duration}}).encode() + b"\0")
        m = recv_message(s, buf)
        if m.get("error") == "io.trnidle.TooManyRequests":
            time.sleep(retry)
            continue
        results.append(m.get("error") or m["parameters"]["hold"]["id"])
    return {"results": results}


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "holds":
        out = holds(path, int(sys.argv[3]), sys.argv[4], *map(float, sys.argv[5:6]))
    else:
        out = {"slowloris": slowloris, "idle": idle, "checknow": checknow}[mode](
            path, int(sys.argv[3]), float(sys.argv[4]))
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
