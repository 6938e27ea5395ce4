"""`midigen-server`: the OSC protocol and its generated doc, the UDP server, request handlers,
the job scheduler, chunked uploads, the reference Python client and live MIDI out. Imports
`language` and `engine`; nothing imports it but tests."""
