{
  "targets": [
    {
      "target_name": "tessera",
      "sources": [
        "<!@(node native/build-list.cjs core_sources)",
        "<!@(node native/build-list.cjs addon_sources)"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node native/build-list.cjs include_dirs)"
      ],
      "defines": ["<!@(node native/build-list.cjs defines)"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-std=c++17"],
      "cflags_cc": ["<!@(node native/build-list.cjs cflags)", "-fexceptions"],
      "ldflags": ["-pthread", "-ldl"],
      "xcode_settings": { "GCC_ENABLE_CPP_EXCEPTIONS": "YES", "CLANG_CXX_LANGUAGE_STANDARD": "gnu++17" },
      "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1 } }
    }
  ]
}
