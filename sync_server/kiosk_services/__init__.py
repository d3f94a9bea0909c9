"""The server side of the kiosk's services: one-time codes, password reset, e-ID, tracking.

Stations ask over MQTT 5 request/response on their ``service`` topic
(``contract.ServiceRequest``); :class:`~sync_server.kiosk_services.worker.KioskServicesWorker`
answers from a shared subscription, calling the OTP service (``sync_server.otp``), the
e-account and e-ID records (``sync_server.records.accounts``) and the tracking logic
(``sync_server.tracking.service``). See docs/kiosk.md.
"""
