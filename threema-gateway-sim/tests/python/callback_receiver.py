"""The official Python SDK as callback receiver: its aiohttp handler checks the MAC and `to`,
fetches the sender's key, decrypts, decodes (downloading file blobs) and answers 200.

Prints {"port": N} once listening, then one JSON line per decoded message; exits after --count
messages.
"""
import asyncio
import base64
import binascii
import json

from aiohttp import web
from threema.gateway.e2e import Message, add_callback_route, create_application

from common import arguments, connection


def describe(message):
    out = {
        'from': message.from_id,
        'message_id': binascii.hexlify(message.message_id).decode('ascii'),
        'date': int(message.date.timestamp()),
    }
    # By type, not isinstance: the SDK's classes are wrapped by its aio_run_proxy decorator.
    if message.type == Message.Type.text_message:
        out.update(type='text', text=message.text)
    elif message.type == Message.Type.file_message:
        thumbnail = message.thumbnail_content
        out.update(
            type='file',
            mime_type=message.mime_type,
            file_name=message._file_name,
            caption=message._caption,
            data=base64.b64encode(message.file_content).decode('ascii'),
            thumbnail=None if thumbnail is None else base64.b64encode(thumbnail).decode('ascii'),
        )
    elif message.type == Message.Type.delivery_receipt:
        out.update(
            type='delivery_receipt',
            status=int(message.receipt_type),
            message_ids=[binascii.hexlify(i).decode('ascii') for i in message.message_ids],
        )
    else:
        out.update(type=message.type.name)
    return out


async def main(args):
    done = asyncio.Event()
    seen = 0

    async def handle(message):
        nonlocal seen
        print(json.dumps(describe(message)), flush=True)
        seen += 1
        if seen >= args.count:
            done.set()

    async with connection(args) as conn:
        app = create_application(conn)
        add_callback_route(conn, app, handle, path='/gateway_callback')
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, '127.0.0.1', 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        print(json.dumps({'port': port}), flush=True)
        await done.wait()
        # Graceful: the handler still answering the last callback finishes first.
        await runner.cleanup()


if __name__ == '__main__':
    asyncio.run(main(arguments(__doc__, lambda p: p.add_argument('--count', type=int, required=True))))
