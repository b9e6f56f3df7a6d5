"""Load a kernel's object code into the process without LLVM (x86-64 Linux).

A process that finds all its kernels in the disk cache has nothing to compile, yet
linking their objects through llvmlite's MCJIT first loads LLVM: the shared library
alone takes 30 to 45 ms, most of a warm start's time to first result. The objects LLVM
emits for kernels are simple (``reloc="pic"``): a ``.text`` section, constant pools in
``.rodata.*`` and relocations of a few kinds against them, against the kernel's own
functions and against a handful of library functions (``memset``, ``sinf``, the BLAS
entry points of ``blas.GEMM_SYMBOLS``). This module places such an object in memory of
its own, applies its relocations and returns its functions' addresses, as a static
linker and loader would, in a fraction of a millisecond.

``load`` handles only what it understands: an ELF64 little-endian relocatable object
for x86-64 whose allocated sections are read-only, with relocations ``R_X86_64_64``,
``PC32``, ``PLT32``, ``PC64`` and the ``GOTPCREL`` family, and external symbols that
the process (or ``symbols``) defines. Anything else raises ``UnsupportedObject``, and
the caller links the object through llvmlite instead, so an unusual object is never
loaded wrong, only more slowly. ``FXGRAD_NATIVE_LOADER=0`` turns this loader off.

Calls to external functions go through stubs placed after the sections (an indirect
jump through an 8-byte address), and ``GOTPCREL`` references through a table of
addresses there, so the code may be loaded anywhere in the address space. The memory
is written, then made read-only and executable; it is never freed, like the code
llvmlite's engines hold.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import sys
import threading
from collections.abc import Callable

_ELF_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
_SECTION = struct.Struct("<IIQQQQIIQQ")
_SYMBOL = struct.Struct("<IBBHQQ")
_RELA = struct.Struct("<QQq")

_SHT_PROGBITS, _SHT_SYMTAB, _SHT_RELA, _SHT_NOBITS = 1, 2, 4, 8
_SHF_WRITE, _SHF_ALLOC = 0x1, 0x2
_SHN_UNDEF, _SHN_ABS = 0, 0xFFF1

_R_X86_64_64, _R_X86_64_PC32, _R_X86_64_PLT32, _R_X86_64_PC64 = 1, 2, 4, 24
_GOTPCREL = (9, 41, 42)  # GOTPCREL, GOTPCRELX, REX_GOTPCRELX

_STUB = b"\xff\x25\x00\x00\x00\x00"  # jmp qword ptr [rip + 0], the address follows
_STUB_SIZE = 16

_PROT_READ, _PROT_WRITE, _PROT_EXEC = 1, 2, 4
_MAP_PRIVATE, _MAP_ANONYMOUS = 0x02, 0x20
_PAGE = 4096


class UnsupportedObject(Exception):
    """The object uses something this loader does not handle; link it through LLVM."""


def supported() -> bool:
    """Whether this platform can use the loader (x86-64 Linux, not turned off)."""
    return (
        os.environ.get("FXGRAD_NATIVE_LOADER", "1") != "0"
        and sys.platform.startswith("linux")
        and platform.machine() in ("x86_64", "AMD64")
        and _libc() is not None
    )


_lock = threading.Lock()
_state: dict[str, object] = {}


def _reset_lock() -> None:
    """In a forked child: a lock held by another thread of the parent stays held."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_lock)


def _libc() -> ctypes.CDLL | None:
    """The process's own symbols (libc, libm and whatever else is loaded globally),
    with ``mmap`` and ``mprotect`` typed."""
    if "libc" in _state:
        return _state["libc"]  # type: ignore[return-value]
    with _lock:
        if "libc" in _state:
            return _state["libc"]  # type: ignore[return-value]
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.mmap.restype = ctypes.c_void_p
            libc.mmap.argtypes = [
                ctypes.c_void_p,
                ctypes.c_size_t,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_long,
            ]
            libc.mprotect.restype = ctypes.c_int
            libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        except (OSError, AttributeError):
            libc = None
        _state["libc"] = libc
    return _state["libc"]  # type: ignore[return-value]


def process_symbol(name: str) -> int | None:
    """The address of ``name`` among the symbols loaded globally in the process."""
    libc = _libc()
    if libc is None:
        return None
    try:
        return ctypes.cast(getattr(libc, name), ctypes.c_void_p).value
    except AttributeError:
        return None


class _Object:
    """The parts of an ELF relocatable object the loader reads."""

    def __init__(self, data: bytes):
        if len(data) < _ELF_HEADER.size or data[:4] != b"\x7fELF":
            raise UnsupportedObject("not an ELF object")
        ident, e_type, machine, _, _, _, shoff, _, _, _, _, shentsize, shnum, _ = (
            _ELF_HEADER.unpack_from(data)
        )
        if ident[4] != 2 or ident[5] != 1 or e_type != 1 or machine != 62:
            raise UnsupportedObject("not a 64-bit little-endian x86-64 relocatable object")
        if shentsize != _SECTION.size or shoff + shnum * shentsize > len(data):
            raise UnsupportedObject("malformed section table")
        self.data = data
        self.sections = [_SECTION.unpack_from(data, shoff + i * shentsize) for i in range(shnum)]

    def section_bytes(self, index: int) -> bytes:
        _, _, _, _, offset, size, _, _, _, _ = self.sections[index]
        if offset + size > len(self.data):
            raise UnsupportedObject("section outside the object")
        return self.data[offset : offset + size]

    def symbols(self) -> list[tuple[str, int, int, int]]:
        """(name, binding and type byte, section index, value) of each symbol."""
        for index, (_, kind, _, _, _, _, link, _, _, entsize) in enumerate(self.sections):
            if kind == _SHT_SYMTAB:
                table, names = self.section_bytes(index), self.section_bytes(link)
                if entsize != _SYMBOL.size:
                    raise UnsupportedObject("unexpected symbol size")
                out = []
                for at in range(0, len(table), _SYMBOL.size):
                    name_at, info, _, shndx, value, _ = _SYMBOL.unpack_from(table, at)
                    name = names[name_at : names.index(b"\0", name_at)].decode()
                    out.append((name, info, shndx, value))
                return out
        raise UnsupportedObject("no symbol table")


def _layout(obj: _Object) -> tuple[dict[int, int], int]:
    """The offset of each allocated section in the image, and the image's size."""
    offsets: dict[int, int] = {}
    size = 0
    for index, (_, kind, flags, _, _, length, _, _, align, _) in enumerate(obj.sections):
        if not flags & _SHF_ALLOC or kind not in (_SHT_PROGBITS, _SHT_NOBITS):
            continue  # unwind tables and notes are not needed to run the code
        if flags & _SHF_WRITE:
            raise UnsupportedObject("writable section")
        align = max(align, 1)
        size = (size + align - 1) // align * align
        offsets[index] = size
        size += length
    return offsets, size


def load(
    data: bytes, names: list[str], symbols: Callable[[str], int | None] | None = None
) -> list[int]:
    """Place the object ``data`` in executable memory; the addresses of ``names``.

    External symbols are looked up with ``symbols`` first, then in the process.
    """
    libc = _libc()
    if libc is None:
        raise UnsupportedObject("no libc")
    obj = _Object(data)
    offsets, sections_size = _layout(obj)
    table = obj.symbols()
    resolve = _resolver(symbols or (lambda name: None))

    # externals: one stub (calls) and one table slot (GOTPCREL) each
    externals = sorted({name for name, _, shndx, _ in table if shndx == _SHN_UNDEF and name})
    stubs_at = (sections_size + 15) // 16 * 16
    slots_at = stubs_at + _STUB_SIZE * len(externals)
    total = slots_at + 8 * len(externals)
    mapped = (total + _PAGE - 1) // _PAGE * _PAGE
    base = libc.mmap(None, mapped, _PROT_READ | _PROT_WRITE, _MAP_PRIVATE | _MAP_ANONYMOUS, -1, 0)
    if base in (None, ctypes.c_void_p(-1).value):
        raise UnsupportedObject(f"mmap failed (errno {ctypes.get_errno()})")

    image = bytearray(total)
    for index, at in offsets.items():
        if obj.sections[index][1] == _SHT_PROGBITS:
            chunk = obj.section_bytes(index)
            image[at : at + len(chunk)] = chunk
    external_address: dict[str, int] = {}
    for k, name in enumerate(externals):
        address = resolve(name)
        stub = stubs_at + _STUB_SIZE * k
        image[stub : stub + 6] = _STUB
        struct.pack_into("<Q", image, stub + 6, address)
        struct.pack_into("<Q", image, slots_at + 8 * k, address)
        external_address[name] = address

    def symbol_address(index: int, for_call: bool) -> int:
        name, _, shndx, value = table[index]
        if shndx == _SHN_UNDEF:
            if not name:
                raise UnsupportedObject("relocation against the null symbol")
            if for_call:
                return base + stubs_at + _STUB_SIZE * externals.index(name)
            return external_address[name]
        if shndx == _SHN_ABS:
            return value
        if shndx not in offsets:
            raise UnsupportedObject(f"symbol {name!r} in a section that is not loaded")
        return base + offsets[shndx] + value

    for index, (_, kind, _, _, _, _, _, target, _, _) in enumerate(obj.sections):
        if kind != _SHT_RELA or target not in offsets:
            continue
        relocations = obj.section_bytes(index)
        for at in range(0, len(relocations), _RELA.size):
            offset, info, addend = _RELA.unpack_from(relocations, at)
            _apply(
                image,
                offsets[target] + offset,
                base,
                info,
                addend,
                symbol_address,
                table,
                slots_at,
                externals,
            )

    ctypes.memmove(base, bytes(image), total)
    if libc.mprotect(base, mapped, _PROT_READ | _PROT_EXEC) != 0:
        raise UnsupportedObject(f"mprotect failed (errno {ctypes.get_errno()})")
    defined = {
        name: base + offsets[shndx] + value
        for name, _, shndx, value in table
        if name and shndx in offsets
    }
    missing = [name for name in names if name not in defined]
    if missing:
        raise UnsupportedObject(f"functions {missing} not defined in the object")
    return [defined[name] for name in names]


def _apply(
    image: bytearray,
    at: int,
    base: int,
    info: int,
    addend: int,
    symbol_address: Callable[[int, bool], int],
    table: list[tuple[str, int, int, int]],
    slots_at: int,
    externals: list[str],
) -> None:
    """Apply one ``Elf64_Rela`` at image offset ``at`` (loaded at ``base + at``)."""
    kind, index = info & 0xFFFFFFFF, info >> 32
    place = base + at
    if kind == _R_X86_64_64:
        struct.pack_into("<Q", image, at, (symbol_address(index, False) + addend) & (2**64 - 1))
    elif kind in (_R_X86_64_PC32, _R_X86_64_PLT32):
        value = symbol_address(index, kind == _R_X86_64_PLT32) + addend - place
        if not -(2**31) <= value < 2**31:
            raise UnsupportedObject("32-bit relative relocation out of range")
        struct.pack_into("<i", image, at, value)
    elif kind == _R_X86_64_PC64:
        struct.pack_into("<q", image, at, symbol_address(index, False) + addend - place)
    elif kind in _GOTPCREL:
        name, _, shndx, _ = table[index]
        if shndx != _SHN_UNDEF:
            raise UnsupportedObject("GOT reference to a local symbol")
        slot = base + slots_at + 8 * externals.index(name)
        struct.pack_into("<i", image, at, slot + addend - place)
    else:
        raise UnsupportedObject(f"relocation type {kind}")


def _resolver(symbols: Callable[[str], int | None]) -> Callable[[str], int]:
    def resolve(name: str) -> int:
        address = symbols(name) or process_symbol(name)
        if not address:
            raise UnsupportedObject(f"undefined symbol {name!r}")
        return address

    return resolve
