"""Istio versions, read from image tags (istiod, ztunnel, waypoint proxies).

Behaviour differs between 1.22 and 1.31 (reference section 0), so several checks word their
verdicts by version. The version is only as good as the image tag: a digest-only image or a
vendor build without a semver tag gives `None`, and checks then say "unknown".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SEMVER = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True, order=True)
class IstioVersion:
    major: int
    minor: int
    patch: int = 0
    text: str = field(default="", compare=False)

    def at_least(self, major: int, minor: int) -> bool:
        return (self.major, self.minor) >= (major, minor)

    @property
    def minor_text(self) -> str:
        return f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        return self.text or f"{self.major}.{self.minor}.{self.patch}"


def image_tag(image: object) -> str | None:
    """The tag of `registry:port/repo/name:tag@sha256:...`, or None when there is none."""
    if not isinstance(image, str) or not image:
        return None
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return None
    tag = last.rsplit(":", 1)[1]
    return tag or None


def version_from_image(image: object) -> IstioVersion | None:
    tag = image_tag(image)
    if tag is None:
        return None
    m = _SEMVER.match(tag)
    if m is None:
        return None
    return IstioVersion(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0), text=tag)
