"""Public notices on the station (seed 002: "security and order information").

:class:`NoticeBoard` subscribes to the retained notices for every station, its district and
its building (``contract/notices.py``), keeps each one the server signed for it in the store
(``notice`` table), and answers which are showing now by the station's own clock: offline,
after a restart, and past a notice's end without anyone telling it.
"""

from device.notices.board import NoticeBoard

__all__ = ["NoticeBoard"]
