"""xpu-ops checks: gather host facts -> evaluate checks -> render a report.

Importing this package is cheap: nothing heavy (ssl, http.client, torch) is imported until a fact needs it.
"""

__version__ = "0.1.0"
