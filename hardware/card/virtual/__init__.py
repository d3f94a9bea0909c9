"""The virtual Thai ID card: one applet, served in-process or to pcscd through vpcd.

``python -m hardware.card.virtual --resident FILE`` runs it as its own process; see
:mod:`hardware.card.virtual.__main__`. Card files are written by
``python -m devtools.synthetic cards``.
"""

from hardware.card.virtual.applet import VirtualThaiIdCard
from hardware.card.virtual.cardfile import CardFile, build_image, load_card_file
from hardware.card.virtual.transport import VirtualTransport

__all__ = ["CardFile", "VirtualThaiIdCard", "VirtualTransport", "build_image", "load_card_file"]
