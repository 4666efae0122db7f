// The site icon: /favicon.ico, embedded (a 32×32 PNG in an ICO container, 831 bytes), so no browser asks in vain.
//
// Drawn from this SVG (a teal speech bubble with a white "C"), rendered at 32×32 in Chromium with a transparent
// background; the ICO header is one ICONDIR plus one ICONDIRENTRY pointing at the PNG:
//   <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
//     <path d="M6 3h20a4 4 0 0 1 4 4v14a4 4 0 0 1-4 4H14l-6 5v-5H6a4 4 0 0 1-4-4V7a4 4 0 0 1 4-4z" fill="#0f766e"/>
//     <path d="M20.5 9.6A6 6 0 1 0 20.5 18.4" fill="none" stroke="#fff" stroke-width="3" stroke-linecap="round"/>
//   </svg>

export const FAVICON_PATH = "/favicon.ico";

export const FAVICON_ICO: Uint8Array = Uint8Array.from(
  Buffer.from(
    "AAABAAEAICAAAAEAIAApAwAAFgAAAIlQTkcNChoKAAAADUlIRFIAAAAgAAAAIAgGAAAAc3p69AAAAt5JREFUeJzEl19IU1Ecx7/nzrQgHWRpRgqWlTp6iB4SLcOHMJktIaggjKDEIjGEGsYwoSzUXkJL0h7qoR5CiGHOKIIyabCHkjIrbGGJbmml7OpDVtvpnOUuY9PtTK7bBy6cc3bu+X3POb8/uxJijIQYE3MBcf6dxLPV+4kEIwHVAUQLVaEuCjIIQq/ITa0W3yhRjJ87UyoR+hBRgFLo5astPbytXAEh9DyiBYHJ1/S7ArrF70BCEq/RICc1Dblp65CamIShiXG8c45hZGoSYnBbAQIISLLIq3rdVrQfKsfKhISg3/pHR1B5/65XUCj8bUUUBU2GA7h39MS8xjnb1mfAWlOLYzvyIUqc6MSqXUWoLChU+vbvE7B9Hcb4tIwNyatRtDkb2uUrECdJuKQvwx2bVWhdIQFZa1JQX7JP6d/oe4b6ni789XiUsbQkLdoPl6Nw4yZ0vOyFKEICjuftxDLmeJwnH9/D1G0OmuOUXTB0XEcmO43hnz8gipCA7ekZSrvhcXfIuZEYFxJACPE6F8fDMsiA0wE1ibgWcCeLqgDKds2TjHcyO42c1LVQE6HtvHWMKW1TsT7kXO6Eqgu4ZX0B91zIFWfr0FBaFnQVPAzNFafRb6xDXRiR/ijJX2uspqEm1hTtQf3eUqW/UCLiTM/OIv2CMdRycDW3eG0LZ8Jrz5+ywpOIkwW7vX2enPgTCE9OdRaz6LLiArgz1nY9QN/nT2g7eETZrT+ixWheAWz9Sebkq8K9YBkcQNZFE3JZOdaxcpyyiHLMbQUJYMMfmEsUCLyPP2433jhGvc/i4Lb+o7gyhdSIaCHRy76mxtf4bbUNxefnvWJSMpl7alkOToCq0Cl29K/ZKZ+Sm1sf+UbD/gcLDE/mjG5WH6pYGN2ECghHwZx1maUjw0xzi3jBV0sABbVD4y6ZaWyzQ0XEBFDaK/+CAa1tMlRGRMBt15dvFejsdGMJEPsQWEJi/nH6DwAA//85/KrrAAAABklEQVQDAJIi9bwx/jqQAAAAAElFTkSuQmCC",
    "base64",
  ),
);
