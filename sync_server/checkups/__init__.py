"""Medical check-ups with telemedicine (seed 002), booked at a kiosk for its card holder.

``adapter.py`` is the one interface a clinic sits behind (free slots, book, cancel);
``http.py`` speaks it over HTTP (``devtools/clinic.py`` is the simulated clinic of the demo
and the tests). ``service.py`` books and cancels: one booking per slot and one active
booking per resident, held by unique columns in ``models.py``; the SMS with the time in local
time and the video-call link goes through the SMS outbox (``texts.py``). ``holder.py`` decides
whether a station may act for a resident: only for the card it just read. See
docs/checkups-notices.md.
"""
