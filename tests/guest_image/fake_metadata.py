# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake OpenStack metadata service for one HTTP request on stdin/stdout.

QEMU's user network starts it for every connection the guest opens to 169.254.169.254:80
(``guestfwd=tcp:169.254.169.254:80-cmd:python fake_metadata.py META_DATA_JSON LOG``), so no server
and no port is needed. It answers /openstack/latest/meta_data.json with the file's content, every
other path with 404, and appends each request line to LOG.
"""

from __future__ import annotations

import sys


def main(meta_data, log):
    request = sys.stdin.buffer.readline().decode('latin-1').strip()
    while sys.stdin.buffer.readline() not in (b'\r\n', b'\n', b''):
        pass
    parts = request.split()
    path = parts[1] if len(parts) > 1 else ''
    with open(log, 'a', encoding='utf-8') as f:
        f.write(request + '\n')
    if path == '/openstack/latest/meta_data.json':
        with open(meta_data, 'rb') as f:
            status, body = b'200 OK', f.read()
    else:
        status, body = b'404 Not Found', b'not found\n'
    sys.stdout.buffer.write(b'HTTP/1.0 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n'
                            b'Connection: close\r\n\r\n%s' % (status, len(body), body))
    sys.stdout.flush()


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
