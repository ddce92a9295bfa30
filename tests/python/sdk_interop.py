"""Cross-checks the bridge's Threema crypto with the official Python SDK (threema.gateway).

Reads one JSON request on stdin, writes one JSON answer on stdout:

  {"op": "encrypt", "driver_key": hex, "bridge_public_key": hex, "driver_id": str,
   "gateway_id": str, "secret": str,
   "messages": [{"kind": "text", "text": str} | {"kind": "receipt", "status": int, "ids": [hex]}]}
  -> {"callbacks": [form body, ...]}      (what the Gateway would POST, MAC by the SDK's rule)

  {"op": "decrypt", "driver_key": hex, "bridge_public_key": hex, "gateway_url": str,
   "gateway_id": str, "secret": str, "messages": [{"nonce": hex, "box": hex}]}
  -> {"messages": [{"kind": "text", "text": str} | {"kind": "receipt", ...} |
                   {"kind": "file", "mime": str, "name": str, "caption": str|null,
                    "content": hex, "thumbnail": hex|null}]}
"""

import asyncio
import binascii
import datetime
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.parse

import libnacl.public
from threema.gateway import Connection
from threema.gateway.e2e import DeliveryReceipt, Message, TextMessage


def private(hex_key):
    return "private:" + hex_key


async def encrypt(req):
    bridge_pk = libnacl.public.PublicKey(binascii.unhexlify(req["bridge_public_key"]))
    callbacks = []
    async with Connection(identity=req["driver_id"], secret=req["secret"], key=private(req["driver_key"])) as conn:
        for m in req["messages"]:
            if m["kind"] == "text":
                msg = TextMessage(conn, to_id=req["gateway_id"], key=bridge_pk, text=m["text"])
            elif m["kind"] == "receipt":
                msg = DeliveryReceipt(
                    conn, to_id=req["gateway_id"], key=bridge_pk,
                    receipt_type=DeliveryReceipt.ReceiptType(m["status"]),
                    message_ids=[binascii.unhexlify(i) for i in m["ids"]],
                )
            else:
                raise ValueError(m["kind"])
            nonce, box = await msg.send(get_data_only=True)
            fields = {
                "from": req["driver_id"],
                "to": req["gateway_id"],
                "messageId": binascii.hexlify(os.urandom(8)).decode(),
                "date": str(int(time.time())),
                "nonce": binascii.hexlify(nonce).decode(),
                "box": binascii.hexlify(box).decode(),
            }
            # The SDK's own callback check (_validate_hmac) defines this concatenation.
            concat = "".join(fields[k] for k in ("from", "to", "messageId", "date", "nonce", "box"))
            fields["mac"] = hmac.new(req["secret"].encode(), concat.encode("ascii"), hashlib.sha256).hexdigest()
            callbacks.append(urllib.parse.urlencode(fields))
    return {"callbacks": callbacks}


async def decrypt(req):
    bridge_pk = libnacl.public.PublicKey(binascii.unhexlify(req["bridge_public_key"]))
    out = []
    # The Gateway credentials serve blob downloads; the driver's key opens the boxes.
    async with Connection(identity=req["gateway_id"], secret=req["secret"], key=private(req["driver_key"])) as conn:
        base = req.get("gateway_url")
        if base:
            conn.urls = {k: v.replace("https://msgapi.threema.ch", base) for k, v in conn.urls.items()}

        async def sender_key(_id):
            return bridge_pk

        conn.get_public_key = sender_key
        params = {"from_id": req["gateway_id"], "message_id": b"\0" * 8, "date": datetime.datetime.now()}
        for m in req["messages"]:
            msg = await Message.receive(conn, params, binascii.unhexlify(m["nonce"]), binascii.unhexlify(m["box"]))
            # The SDK's classes are proxies (aio_run_proxy): compare by name.
            kind = type(msg).__name__
            if kind == "TextMessage":
                out.append({"kind": "text", "text": msg.text})
            elif kind == "DeliveryReceipt":
                out.append({"kind": "receipt", "status": int(msg.receipt_type),
                            "ids": [binascii.hexlify(i).decode() for i in msg.message_ids]})
            elif kind == "FileMessage":
                out.append({"kind": "file", "mime": msg.mime_type, "name": msg._file_name,
                            "caption": msg._caption, "content": binascii.hexlify(msg.file_content).decode(),
                            "thumbnail": binascii.hexlify(msg.thumbnail_content).decode()
                            if msg.thumbnail_content is not None else None})
            else:
                out.append({"kind": kind})
    return {"messages": out}


def main():
    req = json.load(sys.stdin)
    op = {"encrypt": encrypt, "decrypt": decrypt}[req["op"]]
    json.dump(asyncio.run(op(req)), sys.stdout)


if __name__ == "__main__":
    main()
