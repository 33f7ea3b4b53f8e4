"""/digest (日报): the digest now (with its chart), the weekly summary now (`week`), or subscribe
this chat (`on 09:00`) / unsubscribe (`off`)."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.identity import Role
from bot.core.registry import Router
from bot.domain.vocabulary import VOCABULARY
from bot.services import audit
from bot.services.digests import DigestService, brand_scope, parse_time

router = Router()


@router.command("digest", keywords=("日报",), role=Role.BRAND)
async def digest(ctx: Context, digests: DigestService) -> None:
    parts = ctx.args.split()
    chat = ctx.incoming.chat
    reply_to = ctx.incoming.message_id if ctx.in_group else None
    if not parts:
        scope = brand_scope(ctx.caller)
        text, files = await digests.now(ctx.locale, scope, ctx.now)
        await ctx.send_to(chat, ctx.incoming.user_id, text, files=files, reply_to=reply_to)
    elif VOCABULARY.means(parts[0], "digest.week") and len(parts) == 1:
        text = await digests.weekly(ctx.locale, brand_scope(ctx.caller), ctx.now)
        await ctx.send_to(chat, ctx.incoming.user_id, text, reply_to=reply_to)
    elif VOCABULARY.means(parts[0], "digest.on") and len(parts) == 2:
        at = parse_time(parts[1])
        sub = await digests.subscribe(chat, ctx.incoming.user_id, ctx.caller, at, ctx.locale)
        await audit.record(
            ctx.caller.person_id, "digest.on", f"{chat.platform}:{chat.chat_id}", at=at
        )
        await ctx.reply("digest/subscribed", sub=sub)
    elif VOCABULARY.means(parts[0], "digest.off") and len(parts) == 1:
        removed = await digests.unsubscribe(chat)
        await audit.record(ctx.caller.person_id, "digest.off", f"{chat.platform}:{chat.chat_id}")
        await ctx.reply("digest/unsubscribed" if removed else "digest/not_subscribed")
    else:
        raise UserError("digest/usage")
