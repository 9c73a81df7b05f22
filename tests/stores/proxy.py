"""The loopback TCP proxy the store tests put between their workers and Redis, run in
its own process: `python -m tests.stores.proxy TARGET_PORT`.

Its own process, because a proxy of threads inside the test process shares that
process's interpreter lock and collector with everything the session has loaded, and
a stall there was a fault the tests did not make. One asyncio loop, because a socket
closed by one thread while another sends on it can have its descriptor reused under
that send. It prints its port, then obeys one command per line on stdin, answering
`ok` once the command holds: `delay SECONDS` (held before each chunk is passed on),
`garbage 0|1` (answer every request with bytes that are not RESP) and `cut` (drop every
link). It exits when stdin closes.
"""

from __future__ import annotations

import asyncio
import sys

GARBAGE = b"HTTP/1.1 400 Bad Request\r\n\r\n"


class Proxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.delay = 0.0
        self.garbage = False
        self.links: set[asyncio.StreamWriter] = set()

    async def serve(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        self.links.add(client)
        try:
            upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            self.drop(client)
            return
        if client.is_closing():  # cut while this link was being made
            self.drop(upstream)
            return
        self.links.add(upstream)
        await asyncio.gather(
            self.pump(client_reader, upstream, reply_to=client),
            self.pump(upstream_reader, client, reply_to=None),
        )

    async def pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, reply_to: asyncio.StreamWriter | None
    ) -> None:
        """Pass `source` on to `sink`; `reply_to` is the client when `source` carries its requests."""
        try:
            while data := await source.read(65536):
                if self.delay:
                    await asyncio.sleep(self.delay)
                if reply_to is not None and self.garbage:
                    reply_to.write(GARBAGE)
                    continue
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            self.drop(sink)
            if reply_to is not None:
                self.drop(reply_to)

    def drop(self, link: asyncio.StreamWriter) -> None:
        self.links.discard(link)
        link.transport.abort()

    def cut(self) -> None:
        for link in list(self.links):
            self.drop(link)

    def obey(self, line: str) -> None:
        command, _, argument = line.partition(" ")
        if command == "delay":
            self.delay = float(argument)
        elif command == "garbage":
            self.garbage = argument.strip() == "1"
        elif command == "cut":
            self.cut()
        else:
            raise ValueError(f"unknown command {line!r}")


async def main(target_port: int) -> None:
    proxy = Proxy(target_port)
    server = await asyncio.start_server(proxy.serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    while line := await commands.readline():
        proxy.obey(line.decode().strip())
        print("ok", flush=True)
    server.close()
    proxy.cut()
    # Each link's task ends once its pumps see the cut: left to asyncio.run to cancel,
    # each would be logged as an error on the way out.
    links = asyncio.all_tasks() - {asyncio.current_task()}
    if links:
        await asyncio.wait(links, timeout=max(1.0, proxy.delay + 1.0))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
