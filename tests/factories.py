"""Many creators at once, straight into storage (onboarding 200 by chat proves nothing new)."""

from __future__ import annotations

from datetime import datetime

from storage.models import Campaign, Creator, Enrollment, Identity, Person, RoleGrant, SocialAccount

CITIES = ("上海", "北京", "成都", "杭州", "广州", "武汉", "西安", "长沙")
NICHES = (["汽车"], ["亲子", "家庭"], ["通勤", "职场"], ["数码", "科技"], ["生活", "vlog"],
          ["省钱", "学生"], ["测评"], ["科普"])  # fmt: skip
PLATFORMS = ("xiaohongshu", "douyin", "weibo", "bilibili")
KOS_TYPES = ("dealer", "store", "employee", "agent")


async def enroll_creators(code: str, n: int, now: datetime, kos_every: int = 4) -> list[int]:
    """`n` creators of varied kind, city, niches and platform, enrolled in campaign `code`."""
    campaign = await Campaign.get(code=code)
    ids = []
    for i in range(n):
        person = await Person.create(display_name=f"creator{i}")
        await Identity.create(person=person, platform="console", user_id=f"c{i}", last_seen_at=now)
        kos = kos_every and i % kos_every == kos_every - 1
        creator = await Creator.create(
            person=person,
            kind="kos" if kos else "koc",
            kos_type=KOS_TYPES[i % len(KOS_TYPES)] if kos else None,
            city=CITIES[i % len(CITIES)],
            niches=NICHES[i % len(NICHES)],
            tier="B",
            consent_at=now,
        )
        await SocialAccount.create(
            creator=creator, platform=PLATFORMS[i % len(PLATFORMS)], handle=f"c{i}",
            followers=1000 + i,
        )  # fmt: skip
        await RoleGrant.create(person=person, role="creator", brand_id=campaign.brand_id)  # type: ignore[attr-defined]
        await Enrollment.create(campaign=campaign, creator=creator)
        ids.append(creator.id)
    return ids
