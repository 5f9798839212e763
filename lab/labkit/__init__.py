"""The mailforge lab: throwaway Debian hosts under systemd-nspawn on one machine."""
