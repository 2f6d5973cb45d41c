"""Joining links must be https on an allowed meeting host, checked on the parsed host name."""

from urllib.parse import urlsplit


def joining_link_problem(url: str, allowed_hosts: tuple[str, ...]) -> str | None:
    """Why this link cannot be a joining link, or None if it can. allowed_hosts: config's JOINING_LINK_HOSTS."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "Enter the joining link as a full web address, starting with https://"
    if parts.scheme.lower() != "https":
        return "The joining link must start with https://"
    if parts.username or parts.password or not host or port not in (None, 443):
        return "Enter the joining link exactly as Teams or Zoom gives it"
    # Look-alikes: only plain ASCII names, and only the allowed hosts or their subdomains.
    if not host.isascii() or host.startswith("xn--") or ".xn--" in host or host.endswith("."):
        return "The joining link must be a Microsoft Teams or Zoom link"
    if not any(host == allowed or host.endswith("." + allowed) for allowed in allowed_hosts):
        return "The joining link must be a Microsoft Teams or Zoom link"
    return None
