"""Messages for the antivirus tests: clean, with EICAR attached, or with EICAR in a zip."""
import base64
import io
import zipfile

# Built from two halves so that no scanner on this machine flags the test file itself.
EICAR = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").encode()
SIGNATURE = "Lab.EICAR-Test-File"


def zipped(name, data):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def message(marker, attachment=None, filename="eicar.com"):
    head = (f"From: <someone@elsewhere.test>\nTo: <jean@falcot.test>\nSubject: {marker}\n"
            f"Message-ID: <{marker}@lab.test>\nMIME-Version: 1.0\n")
    if attachment is None:
        return head + f"Content-Type: text/plain\n\nclean {marker}\n"
    encoded = base64.encodebytes(attachment).decode()
    return (head + 'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\n'
            f"see attachment {marker}\n--b\nContent-Type: application/octet-stream; name=\"{filename}\"\n"
            f"Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"{filename}\"\n\n"
            f"{encoded}--b--\n")


def send(lab, mx, text):
    outside = lab["outside"]
    return outside.smtp(mx.address, [f"EHLO {outside.fqdn}", "MAIL FROM:<someone@elsewhere.test>",
                                     "RCPT TO:<jean@falcot.test>", {"data": text}])
