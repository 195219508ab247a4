"""An aiosmtpd handler for the tests of package tlsrpt/deliver.

It keeps each message exactly as received (N.eml) with its envelope and
session (N.json), and refuses recipients by their local part:
refuse-perm* with 550, refuse-temp* with 451.

    python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c tlsrptsink.Sink DIR
"""

import json
import os


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("Sink needs the directory to keep messages in")
        return cls(args[0])

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        if local.startswith("refuse-perm"):
            return "550 5.1.1 mailbox unavailable"
        if local.startswith("refuse-temp"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.directory, str(self.count))
        meta = {
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "helo": session.host_name,
            "tls": session.ssl is not None,
        }
        with open(base + ".json", "w") as f:
            json.dump(meta, f)
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content)
        return "250 2.0.0 kept as %d" % self.count
