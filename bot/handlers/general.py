"""/help and /lang."""

from __future__ import annotations

from bot.config import LOCALES
from bot.core.context import Context
from bot.core.registry import Registry, Router
from bot.core.render import Renderer
from bot.domain.vocabulary import VOCABULARY
from bot.services import people

router = Router()


@router.command("help", keywords=("帮助",))
async def help_(ctx: Context, registry: Registry, renderer: Renderer) -> None:
    locale = ctx.locale
    entries = [
        {
            "usage": renderer.command_text(locale, spec.name, "usage") or f"/{spec.name}",
            "summary": renderer.command_text(locale, spec.name, "summary"),
            "keywords": spec.keywords,
        }
        for spec in registry.commands.values()
        if not spec.hidden and ctx.caller.may(spec.role)
    ]
    await ctx.reply("general/help", entries=entries, caller=ctx.caller)


@router.command("lang", keywords=("语言",), in_groups=False)
async def lang(ctx: Context) -> None:
    wanted = VOCABULARY.meaning(ctx.args, "language")  # its meanings are locales
    if wanted not in LOCALES:
        await ctx.reply("general/lang_usage")
        return
    await people.set_locale(ctx.caller.person_id, wanted)
    ctx.caller.locale = wanted
    await ctx.reply("general/lang_set")
