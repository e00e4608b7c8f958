"""Synthetic CFHT MegaCam-like multi-extension images for tests and benchmarks.

:func:`write_synthetic_mef` writes a multi-extension FITS file shaped like a MegaCam
Elixir-processed exposure: an empty primary HDU and one image extension per CCD
(``EXTNAME ccd00`` … ``ccdNN``), each ``width × height`` pixels (the real camera: 36 CCDs
of 2048 × 4612). Every CCD holds

* a sky of about 1500 ADU with a gentle, CCD-dependent gradient,
* Poisson noise (``GAIN`` e-/ADU) and Gaussian read noise,
* stars (Moffat profile, FWHM about 3.7 px = 0.7") with a power-law distribution of
  fluxes, the brightest ones saturated at ``SATURATE``,
* galaxies (exponential discs and de Vaucouleurs bulges, random ellipticity and
  orientation, convolved with the PSF),
* cosmic-ray hits (single pixels and short tracks, not convolved with the PSF),
* one hot bad column over part of the CCD height.

Pixels are stored like MegaCam data: ``BITPIX = 16`` with ``BZERO = 32768`` (unsigned
16-bit), or as float32 with ``dtype="float32"``. With ``compress=True`` each CCD is a
Rice-compressed tile-compressed image (``CompImageHDU``, one tile per row, as ``fpack``
writes by default); the file is then the ``.fits.fz`` that users download from CADC.

Generation is deterministic: the same :class:`SyntheticConfig` (including ``seed``) gives
the same pixels; CCD ``i`` uses its own random stream, so changing the CCD count does not
change the other CCDs. :func:`write_synthetic_mef` returns the truth table
(:class:`SyntheticSource` per injected star and galaxy, 1-based pixel positions like
SExtractor's ``X_IMAGE``/``Y_IMAGE``).

Command line, for the benchmark and for trying things by hand::

    python -m canfar_tui.detection.synthetic OUT.fits.fz [--ccds 36] [--width 2048]
        [--height 4612] [--seed 1] [--float32] [--no-compress]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = [
    "SyntheticConfig",
    "SyntheticSource",
    "make_ccd",
    "write_synthetic_mef",
]


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of a synthetic MegaCam-like exposure (defaults: one real MegaCam CCD)."""

    n_ccds: int = 36
    width: int = 2048
    height: int = 4612
    seed: int = 1
    sky: float = 1500.0
    """Mean sky level in ADU."""
    gain: float = 1.6
    """e-/ADU (written as the ``GAIN`` keyword, varies by ±5 % between CCDs)."""
    read_noise: float = 5.0
    """Read noise in electrons."""
    fwhm: float = 3.7
    """Seeing FWHM in pixels (0.7" at 0.187"/px)."""
    moffat_beta: float = 3.0
    stars_per_ccd: int = 600
    galaxies_per_ccd: int = 5000
    cosmic_rays_per_ccd: int = 150
    bad_column: bool = True
    saturate: float = 65535.0
    """Saturation level in ADU (``SATURATE``); pixels are clipped there."""
    dtype: Literal["uint16", "float32"] = "uint16"
    wcs: Literal["none", "tan", "tpv", "sip"] = "none"
    """World coordinates in each CCD's header: none, a tangent plane (``RA---TAN``), or a
    tangent plane with a polynomial distortion (``RA---TPV``, as MegaCam's Elixir headers,
    or ``RA---TAN-SIP``, as Spitzer's, HST's and astrometry.net's)."""

    def scaled(self, factor: float) -> SyntheticConfig:
        """Return a copy with source and cosmic-ray counts scaled by ``factor``."""
        from dataclasses import replace

        return replace(
            self,
            stars_per_ccd=max(1, round(self.stars_per_ccd * factor)),
            galaxies_per_ccd=max(1, round(self.galaxies_per_ccd * factor)),
            cosmic_rays_per_ccd=max(0, round(self.cosmic_rays_per_ccd * factor)),
        )

    def for_area(self) -> SyntheticConfig:
        """Scale the source counts to this CCD size (the defaults are per 2048 × 4612)."""
        return self.scaled(self.width * self.height / (2048 * 4612))


@dataclass(frozen=True)
class SyntheticSource:
    """One injected star or galaxy.

    ``x``/``y`` are 1-based pixel coordinates (the convention of SExtractor's
    ``X_IMAGE``/``Y_IMAGE``); ``flux`` is the total flux in ADU actually added to the image
    (before saturation); ``ext_number`` is the 1-based CCD index, as SExtractor's
    ``EXT_NUMBER``.
    """

    ext_number: int
    kind: Literal["star", "galaxy"]
    x: float
    y: float
    flux: float
    saturated: bool


# --------------------------------------------------------------------------- rendering


def _moffat_stamp(
    dx: float, dy: float, radius: int, fwhm: float, beta: float
) -> npt.NDArray[np.float64]:
    """Moffat profile on a (2r+1)² stamp, centred at (dx, dy) from the central pixel, sum 1."""
    import numpy as np

    alpha = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    # 2×2 sub-sampling of each pixel: a good enough pixel integration for FWHM ≈ 3.7 px.
    offs = np.array([-0.25, 0.25])
    grid = np.arange(-radius, radius + 1, dtype=np.float64)
    xs = (grid[None, :, None] + offs[None, None, :]) - dx  # (1, n, 2)
    ys = (grid[:, None, None] + offs[None, None, :]) - dy  # (n, 1, 2)
    stamp = np.zeros((grid.size, grid.size))
    for oy in range(2):
        r2 = xs[:, :, :] ** 2 + ys[:, :, oy : oy + 1] ** 2
        stamp += (1.0 + r2 / alpha**2).__pow__(-beta).sum(axis=2)
    stamp /= stamp.sum()
    return stamp


def _galaxy_stamp(
    dx: float,
    dy: float,
    radius: int,
    r_eff: float,
    axis_ratio: float,
    theta: float,
    sersic_n: float,
    psf: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Sérsic profile (n = 1 or 4) convolved with ``psf`` on a (2r+1)² stamp, sum 1."""
    import numpy as np

    size = 2 * radius + 1
    grid = np.arange(-radius, radius + 1, dtype=np.float64)
    x = grid[None, :] - dx
    y = grid[:, None] - dy
    c, s = np.cos(theta), np.sin(theta)
    u = x * c + y * s
    v = (-x * s + y * c) / axis_ratio
    r = np.sqrt(u * u + v * v)
    b_n = 1.9992 * sersic_n - 0.3271
    # Soften the core so n = 4 does not put everything into one pixel.
    profile = np.exp(-b_n * (((r + 0.25) / r_eff) ** (1.0 / sersic_n) - 1.0))
    # FFT convolution with the PSF (centred) on a padded grid.
    pad = size + psf.shape[0]
    fft_size = 1 << int(np.ceil(np.log2(pad)))
    prof_f = np.fft.rfft2(profile, (fft_size, fft_size))
    psf_f = np.fft.rfft2(psf, (fft_size, fft_size))
    conv = np.fft.irfft2(prof_f * psf_f, (fft_size, fft_size))
    half = psf.shape[0] // 2
    out = conv[half : half + size, half : half + size]
    out = np.clip(out, 0.0, None)
    total = out.sum()
    return out / total if total > 0 else out


def _add_stamp(
    image: npt.NDArray[np.float32], stamp: npt.NDArray[np.float64], xc: int, yc: int
) -> None:
    """Add ``stamp`` centred on integer pixel (xc, yc) (0-based), clipped at the edges."""
    r = stamp.shape[0] // 2
    ny, nx = image.shape
    x0, x1 = xc - r, xc + r + 1
    y0, y1 = yc - r, yc + r + 1
    sx0, sy0 = max(0, -x0), max(0, -y0)
    sx1 = stamp.shape[1] - max(0, x1 - nx)
    sy1 = stamp.shape[0] - max(0, y1 - ny)
    if sx1 <= sx0 or sy1 <= sy0:
        return
    image[max(0, y0) : min(ny, y1), max(0, x0) : min(nx, x1)] += stamp[sy0:sy1, sx0:sx1]


def make_ccd(
    config: SyntheticConfig, ccd_index: int
) -> tuple[npt.NDArray[np.generic], dict[str, float | int | str], list[SyntheticSource]]:
    """Render CCD ``ccd_index`` (0-based): pixel array, extension keywords and truth list.

    The pixel array is ``uint16`` or ``float32`` as ``config.dtype`` says.
    """
    import numpy as np

    rng = np.random.default_rng([config.seed, ccd_index])
    ny, nx = config.height, config.width
    ext_number = ccd_index + 1
    gain = float(config.gain * rng.uniform(0.95, 1.05))

    signal = np.zeros((ny, nx), dtype=np.float32)
    truth: list[SyntheticSource] = []
    clip = config.saturate - config.sky

    # Stars: dN/dm ∝ 10^(0.2 m) in instrumental magnitudes, from saturated to SNR ≈ 5.
    psf_r = 12
    psf = _moffat_stamp(0.0, 0.0, psf_r, config.fwhm, config.moffat_beta)
    m_bright, m_faint = -17.5, -6.0
    slope = 0.2 * np.log(10.0)
    u = rng.uniform(size=config.stars_per_ccd)
    lo, hi = np.exp(slope * m_bright), np.exp(slope * m_faint)
    star_mags = np.log(lo + u * (hi - lo)) / slope
    for mag in star_mags:
        flux = float(10.0 ** (-0.4 * mag))
        x = float(rng.uniform(-10, nx + 10))
        y = float(rng.uniform(-10, ny + 10))
        xc, yc = round(x), round(y)
        radius = int(min(80, max(10, 4.0 * config.fwhm * (flux / 3e4) ** 0.25)))
        stamp = _moffat_stamp(x - xc, y - yc, radius, config.fwhm, config.moffat_beta)
        _add_stamp(signal, stamp * flux, xc, yc)
        peak = float(stamp.max() * flux)
        if 0 <= x < nx and 0 <= y < ny:
            truth.append(SyntheticSource(ext_number, "star", x + 1.0, y + 1.0, flux, peak >= clip))

    # Galaxies: steeper counts, dN/dm ∝ 10^(0.35 m), fainter on average, extended.
    m_bright, m_faint = -14.0, -6.0
    slope = 0.35 * np.log(10.0)
    u = rng.uniform(size=config.galaxies_per_ccd)
    lo, hi = np.exp(slope * m_bright), np.exp(slope * m_faint)
    gal_mags = np.log(lo + u * (hi - lo)) / slope
    for mag in gal_mags:
        flux = float(10.0 ** (-0.4 * mag))
        x = float(rng.uniform(-10, nx + 10))
        y = float(rng.uniform(-10, ny + 10))
        xc, yc = round(x), round(y)
        bulge = rng.uniform() < 0.3
        n = 4.0 if bulge else 1.0
        # Brighter galaxies are larger (loosely), 1-10 px effective radius.
        r_eff = float(np.clip(rng.lognormal(np.log(1.5 + 0.6 * (-6.0 - mag)), 0.35), 0.8, 12.0))
        q = float(rng.uniform(0.3, 1.0))
        theta = float(rng.uniform(0.0, np.pi))
        radius = int(min(60, max(8, 3.0 * r_eff * (1.0 + 0.15 * (-6.0 - mag)) + 6)))
        stamp = _galaxy_stamp(x - xc, y - yc, radius, r_eff, q, theta, n, psf)
        _add_stamp(signal, stamp * flux, xc, yc)
        if 0 <= x < nx and 0 <= y < ny:
            truth.append(SyntheticSource(ext_number, "galaxy", x + 1.0, y + 1.0, flux, False))

    # Sky with a gentle gradient (a few per cent across the CCD), then noise in electrons.
    yy = np.linspace(-1.0, 1.0, ny, dtype=np.float32)[:, None]
    xx = np.linspace(-1.0, 1.0, nx, dtype=np.float32)[None, :]
    gx, gy, curv = (float(v) for v in rng.uniform(-0.02, 0.02, size=3))
    sky_level = float(config.sky * rng.uniform(0.97, 1.03))
    image = signal
    image += sky_level * (1.0 + gx * xx + gy * yy + curv * yy * yy)
    np.clip(image, 0.0, None, out=image)
    # Poisson ≈ Gaussian with variance = counts/gain (ADU²), plus read noise.
    noise = rng.standard_normal(size=(ny, nx), dtype=np.float32)
    sigma = image / np.float32(gain)
    sigma += np.float32((config.read_noise / gain) ** 2)
    np.sqrt(sigma, out=sigma)
    noise *= sigma
    del sigma
    image += noise
    del noise

    # Cosmic rays: single pixels or short tracks, sharp (not seen through the PSF).
    for _ in range(config.cosmic_rays_per_ccd):
        x, y = int(rng.integers(0, nx)), int(rng.integers(0, ny))
        energy = float(rng.uniform(300.0, 20000.0))
        length = int(rng.integers(1, 6))
        angle = float(rng.uniform(0.0, np.pi))
        for k in range(length):
            px = round(x + k * np.cos(angle))
            py = round(y + k * np.sin(angle))
            if 0 <= px < nx and 0 <= py < ny:
                image[py, px] += energy / length * float(rng.uniform(0.6, 1.4))

    # A hot bad column over part of the CCD.
    if config.bad_column:
        col = int(rng.integers(nx // 8, nx - nx // 8))
        start = int(rng.integers(0, ny // 2))
        image[start:, col] += float(rng.uniform(200.0, 800.0))

    np.clip(image, 0.0, config.saturate, out=image)
    header: dict[str, float | int | str] = {
        "EXTNAME": f"ccd{ccd_index:02d}",
        "CCDNAME": f"ccd{ccd_index:02d}",
        "GAIN": round(gain, 4),
        "RDNOISE": config.read_noise,
        "SATURATE": config.saturate,
        "EXPTIME": 300.0,
        "FILTER": "i.MP9702",
        "DATASEC": f"[1:{nx},1:{ny}]",
        "SKYLEVEL": round(sky_level, 2),
    }
    header.update(_wcs_keywords(config, ccd_index))
    data: npt.NDArray[np.generic] = (
        np.rint(image).astype(np.uint16) if config.dtype == "uint16" else image
    )
    return data, header, truth


PIXEL_SCALE_ARCSEC = 0.187
"""MegaCam's pixel scale, used for the synthetic WCS."""


def _wcs_keywords(config: SyntheticConfig, ccd_index: int) -> dict[str, float | int | str]:
    """WCS keywords of CCD ``ccd_index``: CCDs side by side, 9 per row, around one pointing."""
    if config.wcs == "none":
        return {}
    scale = PIXEL_SCALE_ARCSEC / 3600.0
    angle = math.radians(0.3 + 0.05 * ccd_index)  # a slight, CCD-dependent rotation
    column, row = ccd_index % 9, ccd_index // 9
    keywords: dict[str, float | int | str] = {
        "RADESYS": "ICRS",
        "EQUINOX": 2000.0,
        "CTYPE1": {"tan": "RA---TAN", "tpv": "RA---TPV"}.get(config.wcs, "RA---TAN-SIP"),
        "CTYPE2": {"tan": "DEC--TAN", "tpv": "DEC--TPV"}.get(config.wcs, "DEC--TAN-SIP"),
        "CUNIT1": "deg",
        "CUNIT2": "deg",
        "CRVAL1": 150.1,
        "CRVAL2": 2.2,
        "CRPIX1": round(4.5 * config.width - column * (config.width + 60), 3),
        "CRPIX2": round(2.0 * config.height - row * (config.height + 80), 3),
        "CD1_1": -scale * math.cos(angle),
        "CD1_2": scale * math.sin(angle),
        "CD2_1": scale * math.sin(angle),
        "CD2_2": scale * math.cos(angle),
    }
    if config.wcs == "tpv":
        # xi' = xi + 0.02 xi² + 0.05 xi r² (degrees): a few arcseconds at the field's edge.
        keywords.update(
            {
                "PV1_0": 0.0,
                "PV1_1": 1.0,
                "PV1_2": 0.0,
                "PV1_4": 0.02,
                "PV1_7": 0.05,
                "PV1_9": 0.05,
                "PV2_0": 0.0,
                "PV2_1": 1.0,
                "PV2_2": 0.0,
                "PV2_6": -0.015,
                "PV2_7": 0.04,
                "PV2_9": 0.04,
            }
        )
    if config.wcs == "sip":
        # u' = u + f(u, v) in pixels relative to CRPIX: about 2" at 5000 px from it.
        keywords.update(
            {
                "A_ORDER": 2,
                "B_ORDER": 2,
                "A_0_2": 2.0e-7,
                "A_1_1": -1.5e-7,
                "A_2_0": 3.0e-7,
                "B_0_2": -2.5e-7,
                "B_1_1": 1.0e-7,
                "B_2_0": 1.5e-7,
            }
        )
    return keywords


# --------------------------------------------------------------------------- writing


def write_synthetic_mef(
    path: str | os.PathLike[str],
    config: SyntheticConfig | None = None,
    *,
    compress: bool = True,
) -> list[SyntheticSource]:
    """Write a synthetic MegaCam-like MEF to ``path`` and return the injected sources.

    ``compress=True`` writes Rice tile-compressed extensions (a ``.fits.fz``); otherwise
    plain image extensions. The file is written to a temporary name and renamed, so a
    half-written file never has the final name. As with every file canfar-tui writes
    (:mod:`canfar_tui.clients.files`), a device, FIFO or folder at ``path`` is refused
    (:class:`~canfar_tui.clients.files.UnsafeTarget`) and a symlink is written through.
    """
    from astropy.io import fits

    from canfar_tui.clients.files import writable_target

    config = config or SyntheticConfig()
    path = writable_target(Path(path))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    primary = fits.PrimaryHDU()
    primary.header["NEXTEND"] = config.n_ccds
    primary.header["INSTRUME"] = ("MegaPrime", "synthetic canfar-tui test image")
    primary.header["OBJECT"] = "SYNTHETIC"
    primary.header["EXPTIME"] = 300.0
    primary.header["FILTER"] = "i.MP9702"
    primary.header["SYNSEED"] = (config.seed, "canfar-tui synthetic generator seed")
    truth: list[SyntheticSource] = []
    try:
        primary.writeto(tmp, overwrite=True)
        with fits.open(tmp, mode="append") as hdul:
            for i in range(config.n_ccds):
                data, keywords, sources = make_ccd(config, i)
                truth.extend(sources)
                header = fits.Header()
                for key, value in keywords.items():
                    header[key] = value
                hdu: fits.ImageHDU | fits.CompImageHDU
                if compress:
                    hdu = fits.CompImageHDU(data=data, header=header, compression_type="RICE_1")
                else:
                    hdu = fits.ImageHDU(data=data, header=header)
                hdul.append(hdu)
                hdul.flush()
                del data, hdu
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return truth


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: write a synthetic image (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m canfar_tui.detection.synthetic",
        description="Write a synthetic CFHT MegaCam-like multi-extension image.",
    )
    parser.add_argument("output", help="output file (.fits or .fits.fz)")
    parser.add_argument("--ccds", type=int, default=36)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--height", type=int, default=4612)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--float32", action="store_true", help="float32 pixels (default uint16)")
    parser.add_argument("--no-compress", action="store_true", help="plain image extensions")
    args = parser.parse_args(argv)
    if args.ccds < 1 or args.width < 16 or args.height < 16:
        parser.error("need at least one CCD of at least 16 × 16 pixels")
    config = SyntheticConfig(
        n_ccds=args.ccds,
        width=args.width,
        height=args.height,
        seed=args.seed,
        dtype="float32" if args.float32 else "uint16",
    ).for_area()
    try:
        truth = write_synthetic_mef(args.output, config, compress=not args.no_compress)
    except OSError as error:
        parser.exit(1, f"{parser.prog}: {args.output}: {error.strerror or error}\n")
    print(f"{args.output}: {config.n_ccds} CCDs, {len(truth)} injected sources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
