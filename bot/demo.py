"""`koxbot demo`: seed a brand, a live campaign, creators and posts; return a console script.

Everything is created through the same services the chat uses, so the demo data is what the
bot itself would have stored.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from bot.app import App
from bot.config import Settings
from bot.core.identity import PlatformUser, Role
from bot.domain.campaign_spec import validate_spec
from bot.domain.links import find_links
from bot.services import campaigns, creators, invites, people, submissions
from storage.models import Campaign, Creator, Identity, Invite, Submission

BRAND, CAMPAIGN, INVITE, MANAGER = "DEMO", "DEMO-SPRING", "DEMO-KOC", "mia"
CREATORS: tuple[tuple[str, str, str, int, tuple[tuple[int, int, int, int], ...]], ...] = (
    # name, city, platform, followers, posts as (likes, comments, shares, favorites)
    ("ada", "上海", "xiaohongshu", 3200, ((820, 64, 12, 150),)),
    ("ben", "杭州", "douyin", 15800, ((2400, 180, 95, 310), (300, 12, 4, 20))),
    ("cai", "成都", "weibo", 900, ((45, 6, 3, 2),)),
    ("dan", "广州", "bilibili", 52000, ()),
)
POST_URLS = {
    "xiaohongshu": "https://www.xiaohongshu.com/explore/{hex24}",
    "douyin": "https://www.douyin.com/video/{digits19}",
    "weibo": "https://m.weibo.cn/status/{digits16}",
    "bilibili": "https://www.bilibili.com/video/av{digits9}",
}


def _post_url(platform: str, posted: datetime) -> str:
    """A made-up post link whose id tells `posted` where ids tell time (see links.post_time)."""
    digits = "".join(str(secrets.randbelow(10)) for _ in range(19))
    seconds = int(posted.timestamp())
    return POST_URLS[platform].format(
        hex24=f"{seconds:08x}" + secrets.token_hex(8),
        digits19=str((seconds << 32) + secrets.randbelow(2**32)),
        digits16=digits[:16],
        digits9=digits[:9],
    )


async def _person(name: str, app: App) -> Any:
    person = await people.person_for_reference(f"console:{name}", "console")
    await Identity.filter(person_id=person.id).update(last_seen_at=app.clock.now())
    return person


async def _seed(app: App) -> None:
    now = app.clock.now()
    brand, _ = await campaigns.ensure_brand(BRAND)
    manager = await _person(MANAGER, app)
    await people.grant(manager, Role.MANAGER, brand, None)
    caller = await app.ports.people.identify(
        PlatformUser("console", MANAGER), MANAGER, now, app.settings.admin_ids
    )
    tz = app.settings.tz
    spec = validate_spec(
        {
            "code": CAMPAIGN,
            "name": "春季新车体验官",
            "brand": BRAND,
            "product": "DEMO E7 电动车",
            "event_at": (now - timedelta(hours=2)).astimezone(tz),
            "embargo_at": (now - timedelta(hours=1)).astimezone(tz),
            "deadline_at": (now + timedelta(days=7)).astimezone(tz),
            "platforms": ["xiaohongshu", "douyin", "weibo", "bilibili"],
            "key_messages": ["续航 700 公里", "10 分钟快充 400 公里", "全系标配智能驾驶"],
            "dos": ["讲真实的用车场景", "拍清楚充电过程"],
            "donts": ["不要和竞品做价格对比", "不要承诺优惠"],
            "hashtags": {"required": ["DEMO春季新车", "试驾"], "optional": ["新能源"]},
            "mentions": ["@DEMO汽车"],
            "disclosure": "#合作",
            "pricing": {"fixed": 50, "cpe": "0.2"},
        },
        app.settings.timezone,
    )
    campaign = await campaigns.create_campaign(spec, caller)
    await invites.create_invite(brand, campaign, Role.CREATOR, manager.id, code=INVITE)
    for name, city, platform, followers, posts in CREATORS:
        person = await _person(name, app)
        answers = {
            "kind": "koc",
            "city": city,
            "niches": ["汽车"],
            "accounts": [
                {"platform": platform, "handle": f"{name}_{platform}", "followers": followers}
            ],
        }
        creator = await creators.register(person.id, answers, INVITE, now)
        for index, (likes, comments, shares, favorites) in enumerate(posts):
            link = find_links(_post_url(platform, now))[0]
            made = await submissions.submit(creator, campaign, link, "console", name, now)
            if index == 0:  # the first post is approved; others wait in the review queue
                await submissions.decide(caller, made.submission.id, True, "", now)
            counts = {
                "likes": likes,
                "comments": comments,
                "shares": shares,
                "favorites": favorites,
            }
            await submissions.record_metrics(made.submission, counts, person.id)


async def seed_demo(settings: Settings) -> str:
    async with App(settings) as app:
        if not await Campaign.exists(code=CAMPAIGN):
            await _seed(app)
        newcomer = f"newbie{secrets.randbelow(900) + 100}"
        next_id = ((await Submission.all().order_by("-id").first()) or Submission(id=0)).id + 1
        invite = await Invite.get(code=INVITE)
        return _script(
            newcomer,
            next_id,
            _post_url("xiaohongshu", app.clock.now()),
            invite.code,
            await Creator.all().count(),
        )


def _script(newcomer: str, next_id: int, post: str, invite: str, creator_count: int) -> str:
    return f"""# koxbot demo: brand {BRAND}, campaign {CAMPAIGN}, {creator_count} creators seeded.
# Run it with:  koxbot console --script data/demo.txt

# The manager's view: live campaigns and the review queue; approve the first post by number.
{MANAGER}@dm: /campaigns
{MANAGER}@dm: /review
{MANAGER}@dm: 1

# A seeded creator asks for their money (amounts are fixed + CPE from the latest numbers).
ada@dm: /earnings

# A new creator signs up with the invite code: KOC, city, niches, one account, consent.
{newcomer}@dm: /start {invite}
{newcomer}@dm: 1
{newcomer}@dm: 杭州
{newcomer}@dm: 汽车, 露营
{newcomer}@dm: 1
{newcomer}@dm: {newcomer}_xhs
{newcomer}@dm: 4500
{newcomer}@dm: 2
{newcomer}@dm: 1
{newcomer}@dm: /brief

# They post and paste the app's share text in the campaign group; the bot picks it up.
{newcomer}@demo-group: 【小红书】周末试驾 DEMO E7 😆 {post} 复制本条信息，打开【小红书】App查看！
{MANAGER}@dm: /approve {next_id}
{newcomer}@dm: /metrics {next_id} likes=1.2k comments=88 shares=30 favorites=240 views=15000
{newcomer}@demo-group: 收益
"""
