"""A wechaty puppet service on loopback: grpclib serving `wechaty.Puppet` with the message
classes of `wechaty_grpc.wechaty.puppet`, enough for the real `Wechaty` client to start, log
in, receive events (login, message, friendship, room-join) and look up payloads and send.

Like a real puppet it types messages with the TypeScript numbers (text = 7), echoes the
bot's own sends back as message events, and records every call it serves.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from grpclib import GRPCError
from grpclib.const import Cardinality, Handler, Status
from grpclib.server import Server, Stream
from wechaty_grpc.wechaty import puppet as pb

# wechaty-puppet (TypeScript) message type numbers, as puppet services send them.
TS_ATTACHMENT = 1
TS_TEXT = 7
BOT_ID = "wxid_koxbot"
BOT_NAME = "koxbot小助手"
AT_SEPARATOR = "\u2005"


@dataclass
class Sent:
    """One message the bot sent (MessageSendText or MessageSendFile)."""

    id: str
    conversation_id: str
    text: str = ""
    mention_ids: list[str] = field(default_factory=list)
    file_name: str | None = None
    file_data: bytes | None = None


class FakePuppet:
    def __init__(self, self_id: str = BOT_ID, self_name: str = BOT_NAME) -> None:
        self.self_id = self_id
        self.contacts: dict[str, pb.ContactPayloadResponse] = {}
        self.rooms: dict[str, pb.RoomPayloadResponse] = {}
        self.messages: dict[str, pb.MessagePayloadResponse] = {}
        self.files: dict[str, tuple[str, bytes]] = {}
        self.friendships: dict[str, pb.FriendshipPayloadResponse] = {}
        self.accepted: list[str] = []
        self.sent: list[Sent] = []
        self.calls: list[str] = []
        self.fail_sends: Status | None = None  # answer sends with this gRPC status
        self.port = 0
        self._prefix = uuid.uuid4().hex[:8]  # wechaty dedupes message ids process-wide
        self._count = 0
        self._streams: list[asyncio.Queue[pb.EventResponse | None]] = []
        self._server: Server | None = None
        self._changed = asyncio.Event()
        self.contact(self_id, self_name, friend=False)

    # ------------------------------------------------------------------ lifecycle

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))  # a free port, chosen by the kernel
        self.port = sock.getsockname()[1]
        self._server = Server([self])
        await self._server.start(sock=sock)

    async def stop(self) -> None:
        self.drop_streams()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def drop_streams(self) -> None:
        """End every open event stream (a puppet service restarting, a network cut)."""
        for queue in self._streams:
            queue.put_nowait(None)

    @property
    def streams(self) -> int:
        return len(self._streams)

    # ------------------------------------------------------------------ the world

    def _id(self, kind: str) -> str:
        self._count += 1
        return f"{kind}-{self._prefix}-{self._count}"

    def contact(self, contact_id: str, name: str, friend: bool = True) -> None:
        self.contacts[contact_id] = pb.ContactPayloadResponse(
            id=contact_id, name=name, friend=friend, type=pb.ContactType.CONTACT_TYPE_PERSONAL
        )

    def room(self, room_id: str, topic: str, *member_ids: str) -> None:
        self.rooms[room_id] = pb.RoomPayloadResponse(
            id=room_id, topic=topic, owner_id=member_ids[0], member_ids=[self.self_id, *member_ids]
        )

    def text(
        self,
        from_id: str,
        text: str,
        room_id: str = "",
        mention_ids: tuple[str, ...] = (),
        message_id: str | None = None,
    ) -> str:
        """Someone writes (to the bot, or in a room); returns the message id."""
        message_id = message_id or self._id("msg")
        self.messages[message_id] = pb.MessagePayloadResponse(
            id=message_id,
            text=text,
            timestamp=1_780_000_000_000,
            type=TS_TEXT,
            from_id=from_id,
            room_id=room_id,
            to_id="" if room_id else self.self_id,
            mention_ids=list(mention_ids),
        )
        self.emit(pb.EventType.EVENT_TYPE_MESSAGE, {"messageId": message_id})
        return message_id

    def mention(self, from_id: str, room_id: str, text: str) -> str:
        """A room message that @mentions the bot, as WeChat writes it."""
        name = self.contacts[self.self_id].name
        return self.text(from_id, f"@{name}{AT_SEPARATOR}{text}", room_id, (self.self_id,))

    def redeliver(self, message_id: str) -> None:
        self.emit(pb.EventType.EVENT_TYPE_MESSAGE, {"messageId": message_id})

    def file(self, from_id: str, name: str, data: bytes, room_id: str = "") -> str:
        message_id = self._id("file")
        self.files[message_id] = (name, data)
        self.messages[message_id] = pb.MessagePayloadResponse(
            id=message_id,
            filename=name,
            timestamp=1_780_000_000_000,
            type=TS_ATTACHMENT,
            from_id=from_id,
            room_id=room_id,
            to_id="" if room_id else self.self_id,
        )
        self.emit(pb.EventType.EVENT_TYPE_MESSAGE, {"messageId": message_id})
        return message_id

    def friend_request(self, contact_id: str, name: str, hello: str) -> str:
        self.contact(contact_id, name, friend=False)
        friendship_id = self._id("friendship")
        self.friendships[friendship_id] = pb.FriendshipPayloadResponse(
            id=friendship_id,
            contact_id=contact_id,
            hello=hello,
            type=pb.FriendshipType.FRIENDSHIP_TYPE_RECEIVE,
            scene=pb.FriendshipSceneType.FRIENDSHIP_SCENE_TYPE_QRCODE,
        )
        self.emit(pb.EventType.EVENT_TYPE_FRIENDSHIP, {"friendshipId": friendship_id})
        return friendship_id

    def join(self, room_id: str, inviter_id: str, *invitee_ids: str) -> None:
        self.rooms[room_id].member_ids.extend(invitee_ids)
        self.emit(
            pb.EventType.EVENT_TYPE_ROOM_JOIN,
            {
                "roomId": room_id,
                "inviteeIdList": list(invitee_ids),
                "inviterId": inviter_id,
                "timestamp": 1_780_000_000,
            },
        )

    def emit(self, event: pb.EventType, payload: dict) -> None:
        response = pb.EventResponse(type=event, payload=json.dumps(payload))
        for queue in self._streams:
            queue.put_nowait(response)

    # ------------------------------------------------------------------ waiting

    async def wait_for(self, predicate: Callable[[Sent], bool], timeout: float = 10.0) -> Sent:
        async def scan() -> Sent:
            seen = 0
            while True:
                for item in self.sent[seen:]:
                    if predicate(item):
                        return item
                seen = len(self.sent)
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), timeout)

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        async def poll() -> None:
            while not condition():
                await asyncio.sleep(0.02)

        await asyncio.wait_for(poll(), timeout)

    def to(self, conversation_id: str) -> list[Sent]:
        return [s for s in self.sent if s.conversation_id == conversation_id]

    # ------------------------------------------------------------------ gRPC

    def __mapping__(self) -> dict[str, Handler]:
        unary = Cardinality.UNARY_UNARY
        routes = {
            "Start": (self._start, unary, pb.StartRequest, pb.StartResponse),
            "Stop": (self._stop, unary, pb.StopRequest, pb.StopResponse),
            "Ding": (self._ding, unary, pb.DingRequest, pb.DingResponse),
            "Event": (self._event, Cardinality.UNARY_STREAM, pb.EventRequest, pb.EventResponse),
            "ContactPayload": (
                self._contact_payload,
                unary,
                pb.ContactPayloadRequest,
                pb.ContactPayloadResponse,
            ),
            "MessagePayload": (
                self._message_payload,
                unary,
                pb.MessagePayloadRequest,
                pb.MessagePayloadResponse,
            ),
            "MessageFile": (
                self._message_file,
                unary,
                pb.MessageFileRequest,
                pb.MessageFileResponse,
            ),
            "RoomPayload": (
                self._room_payload,
                unary,
                pb.RoomPayloadRequest,
                pb.RoomPayloadResponse,
            ),
            "RoomMemberList": (
                self._room_member_list,
                unary,
                pb.RoomMemberListRequest,
                pb.RoomMemberListResponse,
            ),
            "RoomMemberPayload": (
                self._room_member_payload,
                unary,
                pb.RoomMemberPayloadRequest,
                pb.RoomMemberPayloadResponse,
            ),
            "FriendshipPayload": (
                self._friendship_payload,
                unary,
                pb.FriendshipPayloadRequest,
                pb.FriendshipPayloadResponse,
            ),
            "FriendshipAccept": (
                self._friendship_accept,
                unary,
                pb.FriendshipAcceptRequest,
                pb.FriendshipAcceptResponse,
            ),
            "MessageSendText": (
                self._send_text,
                unary,
                pb.MessageSendTextRequest,
                pb.MessageSendTextResponse,
            ),
            "MessageSendFile": (
                self._send_file,
                unary,
                pb.MessageSendFileRequest,
                pb.MessageSendFileResponse,
            ),
        }
        return {
            f"/wechaty.Puppet/{name}": Handler(func, cardinality, request, reply)
            for name, (func, cardinality, request, reply) in routes.items()
        }

    async def _receive(self, stream: Stream, name: str):  # type: ignore[no-untyped-def]
        request = await stream.recv_message()
        self.calls.append(name)
        return request

    async def _start(self, stream: Stream) -> None:
        await self._receive(stream, "Start")
        await stream.send_message(pb.StartResponse())

    async def _stop(self, stream: Stream) -> None:
        await self._receive(stream, "Stop")
        await stream.send_message(pb.StopResponse())

    async def _ding(self, stream: Stream) -> None:
        request = await self._receive(stream, "Ding")
        await stream.send_message(pb.DingResponse())
        self.emit(pb.EventType.EVENT_TYPE_DONG, {"data": request.data})

    async def _event(self, stream: Stream) -> None:
        await self._receive(stream, "Event")
        queue: asyncio.Queue[pb.EventResponse | None] = asyncio.Queue()
        self._streams.append(queue)
        try:
            login = {"contactId": self.self_id}
            await stream.send_message(
                pb.EventResponse(type=pb.EventType.EVENT_TYPE_LOGIN, payload=json.dumps(login))
            )
            while (event := await queue.get()) is not None:
                await stream.send_message(event)
        finally:
            self._streams.remove(queue)

    async def _contact_payload(self, stream: Stream) -> None:
        request = await self._receive(stream, "ContactPayload")
        if request.id not in self.contacts:
            raise GRPCError(Status.NOT_FOUND, f"no contact {request.id}")
        await stream.send_message(self.contacts[request.id])

    async def _message_payload(self, stream: Stream) -> None:
        request = await self._receive(stream, "MessagePayload")
        if request.id not in self.messages:
            raise GRPCError(Status.NOT_FOUND, f"no message {request.id}")
        await stream.send_message(self.messages[request.id])

    async def _message_file(self, stream: Stream) -> None:
        request = await self._receive(stream, "MessageFile")
        name, data = self.files[request.id]
        box = {"boxType": 1, "name": name, "base64": base64.b64encode(data).decode()}
        await stream.send_message(pb.MessageFileResponse(filebox=json.dumps(box)))

    async def _room_payload(self, stream: Stream) -> None:
        request = await self._receive(stream, "RoomPayload")
        if request.id not in self.rooms:
            raise GRPCError(Status.NOT_FOUND, f"no room {request.id}")
        await stream.send_message(self.rooms[request.id])

    async def _room_member_list(self, stream: Stream) -> None:
        request = await self._receive(stream, "RoomMemberList")
        members = self.rooms[request.id].member_ids
        await stream.send_message(pb.RoomMemberListResponse(member_ids=list(members)))

    async def _room_member_payload(self, stream: Stream) -> None:
        request = await self._receive(stream, "RoomMemberPayload")
        room = self.rooms.get(request.id)
        if room is None or request.member_id not in room.member_ids:
            raise GRPCError(Status.NOT_FOUND, f"{request.member_id} is not in {request.id}")
        contact = self.contacts[request.member_id]
        await stream.send_message(pb.RoomMemberPayloadResponse(id=contact.id, name=contact.name))

    async def _friendship_payload(self, stream: Stream) -> None:
        request = await self._receive(stream, "FriendshipPayload")
        await stream.send_message(self.friendships[request.id])

    async def _friendship_accept(self, stream: Stream) -> None:
        request = await self._receive(stream, "FriendshipAccept")
        friendship = self.friendships[request.id]
        self.contacts[friendship.contact_id].friend = True
        self.accepted.append(friendship.contact_id)
        await stream.send_message(pb.FriendshipAcceptResponse())

    def _check_conversation(self, conversation_id: str) -> None:
        if self.fail_sends is not None:
            raise GRPCError(self.fail_sends, "refused by the test")
        if conversation_id not in self.rooms and conversation_id not in self.contacts:
            raise GRPCError(Status.NOT_FOUND, f"no conversation {conversation_id}")

    def _record(self, sent: Sent) -> None:
        self.sent.append(sent)
        self._changed.set()
        # A real puppet reports the bot's own messages back as message events.
        is_room = sent.conversation_id in self.rooms
        self.messages[sent.id] = pb.MessagePayloadResponse(
            id=sent.id,
            text=sent.text,
            type=TS_TEXT if sent.file_name is None else TS_ATTACHMENT,
            filename=sent.file_name or "",
            from_id=self.self_id,
            room_id=sent.conversation_id if is_room else "",
            to_id="" if is_room else sent.conversation_id,
            mention_ids=sent.mention_ids,
        )
        self.emit(pb.EventType.EVENT_TYPE_MESSAGE, {"messageId": sent.id})

    async def _send_text(self, stream: Stream) -> None:
        request = await self._receive(stream, "MessageSendText")
        self._check_conversation(request.conversation_id)
        sent = Sent(
            self._id("out"), request.conversation_id, request.text, list(request.mentonal_ids)
        )
        self._record(sent)
        await stream.send_message(pb.MessageSendTextResponse(id=sent.id))

    async def _send_file(self, stream: Stream) -> None:
        request = await self._receive(stream, "MessageSendFile")
        self._check_conversation(request.conversation_id)
        box = json.loads(request.filebox)
        data = base64.b64decode(box["base64"]) if box.get("base64") else None
        sent = Sent(
            self._id("out"), request.conversation_id, file_name=box.get("name"), file_data=data
        )
        self._record(sent)
        await stream.send_message(pb.MessageSendFileResponse(id=sent.id))
