"""The official Python SDK as a Gateway client: send an E2E text and a file to a simulated phone.

Prints one JSON line: {"text_id", "file_id", "credits"}.
"""
import asyncio
import json

from threema.gateway.e2e import FileMessage, TextMessage

from common import arguments, connection


def extra(parser):
    parser.add_argument('--to', required=True)
    parser.add_argument('--text', required=True)
    parser.add_argument('--file-content', required=True)
    parser.add_argument('--thumbnail-content', required=True)
    parser.add_argument('--caption', required=True)


async def main(args):
    async with connection(args) as conn:
        text_id = await TextMessage(conn, to_id=args.to, text=args.text).send()
        file_id = await FileMessage(
            conn,
            to_id=args.to,
            file_content=args.file_content.encode('utf-8'),
            mime_type='text/plain',
            file_name='note.txt',
            thumbnail_content=args.thumbnail_content.encode('utf-8'),
            caption=args.caption,
        ).send()
        credits = await conn.get_credits()
    print(json.dumps({'text_id': text_id, 'file_id': file_id, 'credits': credits}), flush=True)


if __name__ == '__main__':
    asyncio.run(main(arguments(__doc__, extra)))
