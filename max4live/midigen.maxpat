{
 "patcher": {
  "fileversion": 1,
  "appversion": {
   "major": 8,
   "minor": 6,
   "revision": 0,
   "architecture": "x64",
   "modernui": 1
  },
  "classnamespace": "box",
  "rect": [
   100.0,
   100.0,
   1200.0,
   640.0
  ],
  "openrect": [
   0.0,
   0.0,
   0.0,
   169.0
  ],
  "openinpresentation": 1,
  "default_fontsize": 10.0,
  "default_fontname": "Arial Bold",
  "gridsize": [
   8.0,
   8.0
  ],
  "boxes": [
   {
    "box": {
     "id": "obj-1",
     "maxclass": "newobj",
     "patching_rect": [
      20,
      20,
      45,
      22
     ],
     "text": "midiin",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      "int"
     ]
    }
   },
   {
    "box": {
     "id": "obj-2",
     "maxclass": "newobj",
     "patching_rect": [
      20,
      60,
      52,
      22
     ],
     "text": "midiout",
     "numinlets": 1,
     "numoutlets": 0,
     "outlettype": []
    }
   },
   {
    "box": {
     "id": "obj-3",
     "maxclass": "newobj",
     "patching_rect": [
      100,
      20,
      85,
      22
     ],
     "text": "live.thisdevice",
     "numinlets": 1,
     "numoutlets": 3,
     "outlettype": [
      "bang",
      "int",
      "int"
     ]
    }
   },
   {
    "box": {
     "id": "obj-4",
     "maxclass": "message",
     "patching_rect": [
      100,
      50,
      30,
      22
     ],
     "text": "init",
     "numinlets": 2,
     "numoutlets": 1,
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-5",
     "maxclass": "newobj",
     "patching_rect": [
      100,
      400,
      160,
      22
     ],
     "text": "js midigen.js",
     "numinlets": 1,
     "numoutlets": 4,
     "outlettype": [
      "",
      "",
      "",
      ""
     ],
     "saved_object_attributes": {
      "filename": "midigen.js",
      "parameter_enable": 0
     }
    }
   },
   {
    "box": {
     "id": "obj-6",
     "maxclass": "newobj",
     "patching_rect": [
      100,
      460,
      140,
      22
     ],
     "text": "udpsend 127.0.0.1 9000",
     "numinlets": 1,
     "numoutlets": 0,
     "outlettype": []
    }
   },
   {
    "box": {
     "id": "obj-7",
     "maxclass": "newobj",
     "patching_rect": [
      300,
      340,
      100,
      22
     ],
     "text": "udpreceive 9001",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-8",
     "maxclass": "comment",
     "patching_rect": [
      300,
      460,
      300,
      20
     ],
     "presentation": 1,
     "presentation_rect": [
      8,
      128,
      470,
      30
     ],
     "text": "midigen: press Generate",
     "numinlets": 1,
     "numoutlets": 0,
     "fontsize": 10.0
    }
   },
   {
    "box": {
     "id": "obj-9",
     "maxclass": "newobj",
     "patching_rect": [
      500,
      400,
      90,
      22
     ],
     "text": "pattr clientid",
     "numinlets": 1,
     "numoutlets": 3,
     "outlettype": [
      "",
      "",
      ""
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "clientid",
       "parameter_shortname": "clientid",
       "parameter_type": 3,
       "parameter_modmode": 0,
       "parameter_invisible": 1
      }
     },
     "varname": "clientid"
    }
   },
   {
    "box": {
     "id": "obj-10",
     "maxclass": "newobj",
     "patching_rect": [
      500,
      430,
      100,
      22
     ],
     "text": "prepend clientid",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-11",
     "maxclass": "live.tab",
     "patching_rect": [
      20,
      150,
      120,
      40
     ],
     "presentation": 1,
     "presentation_rect": [
      8,
      8,
      64,
      54
     ],
     "numinlets": 1,
     "numoutlets": 3,
     "outlettype": [
      "",
      "",
      "float"
     ],
     "num_lines_patching": 3,
     "num_lines_presentation": 3,
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Mode",
       "parameter_shortname": "Mode",
       "parameter_type": 2,
       "parameter_modmode": 0,
       "parameter_enum": [
        "infill",
        "continue",
        "loop"
       ],
       "parameter_mmax": 2,
       "parameter_initial": [
        0
       ],
       "parameter_initial_enable": 1
      }
     },
     "varname": "Mode"
    }
   },
   {
    "box": {
     "id": "obj-12",
     "maxclass": "newobj",
     "patching_rect": [
      20,
      300,
      120,
      22
     ],
     "text": "prepend set mode",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-13",
     "maxclass": "live.numbox",
     "patching_rect": [
      160,
      150,
      44,
      15
     ],
     "presentation": 1,
     "presentation_rect": [
      124,
      8,
      40,
      15
     ],
     "numinlets": 1,
     "numoutlets": 2,
     "outlettype": [
      "",
      "float"
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "From bar",
       "parameter_shortname": "From",
       "parameter_type": 1,
       "parameter_modmode": 0,
       "parameter_mmin": 0,
       "parameter_mmax": 512,
       "parameter_initial": [
        0
       ],
       "parameter_initial_enable": 1,
       "parameter_unitstyle": 0
      }
     },
     "varname": "From bar"
    }
   },
   {
    "box": {
     "id": "obj-14",
     "maxclass": "live.numbox",
     "patching_rect": [
      220,
      150,
      44,
      15
     ],
     "presentation": 1,
     "presentation_rect": [
      124,
      26,
      40,
      15
     ],
     "numinlets": 1,
     "numoutlets": 2,
     "outlettype": [
      "",
      "float"
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "To bar",
       "parameter_shortname": "To",
       "parameter_type": 1,
       "parameter_modmode": 0,
       "parameter_mmin": 0,
       "parameter_mmax": 512,
       "parameter_initial": [
        0
       ],
       "parameter_initial_enable": 1,
       "parameter_unitstyle": 0
      }
     },
     "varname": "To bar"
    }
   },
   {
    "box": {
     "id": "obj-15",
     "maxclass": "newobj",
     "patching_rect": [
      160,
      300,
      120,
      22
     ],
     "text": "prepend set fromBar",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-16",
     "maxclass": "newobj",
     "patching_rect": [
      220,
      300,
      120,
      22
     ],
     "text": "prepend set toBar",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-17",
     "maxclass": "live.menu",
     "patching_rect": [
      280,
      150,
      60,
      15
     ],
     "presentation": 1,
     "presentation_rect": [
      232,
      8,
      56,
      15
     ],
     "numinlets": 1,
     "numoutlets": 3,
     "outlettype": [
      "",
      "",
      "float"
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Density",
       "parameter_shortname": "Density",
       "parameter_type": 2,
       "parameter_modmode": 0,
       "parameter_enum": [
        "any",
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
        "8",
        "9",
        "10"
       ],
       "parameter_mmax": 10,
       "parameter_initial": [
        0
       ],
       "parameter_initial_enable": 1
      }
     },
     "varname": "Density"
    }
   },
   {
    "box": {
     "id": "obj-18",
     "maxclass": "live.menu",
     "patching_rect": [
      350,
      150,
      60,
      15
     ],
     "presentation": 1,
     "presentation_rect": [
      232,
      26,
      56,
      15
     ],
     "numinlets": 1,
     "numoutlets": 3,
     "outlettype": [
      "",
      "",
      "float"
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Poly min",
       "parameter_shortname": "PolyMin",
       "parameter_type": 2,
       "parameter_modmode": 0,
       "parameter_enum": [
        "any",
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
        "8",
        "9",
        "10"
       ],
       "parameter_mmax": 10,
       "parameter_initial": [
        0
       ],
       "parameter_initial_enable": 1
      }
     },
     "varname": "Poly min"
    }
   },
   {
    "box": {
     "id": "obj-19",
     "maxclass": "live.menu",
     "patching_rect": [
      420,
      150,
      60,
      15
     ],
     "presentation": 1,
     "presentation_rect": [
      232,
      44,
      56,
      15
     ],
     "numinlets": 1,
     "numoutlets": 3,
     "outlettype": [
      "",
      "",
      "float"
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Poly max",
       "parameter_shortname": "PolyMax",
       "parameter_type": 2,
       "parameter_modmode": 0,
       "parameter_enum": [
        "any",
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
        "8",
        "9",
        "10"
       ],
       "parameter_mmax": 10,
       "parameter_initial": [
        0
       ],
       "parameter_initial_enable": 1
      }
     },
     "varname": "Poly max"
    }
   },
   {
    "box": {
     "id": "obj-20",
     "maxclass": "live.menu",
     "patching_rect": [
      490,
      150,
      60,
      15
     ],
     "presentation": 1,
     "presentation_rect": [
      232,
      62,
      56,
      15
     ],
     "numinlets": 1,
     "numoutlets": 3,
     "outlettype": [
      "",
      "",
      "float"
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Dur min",
       "parameter_shortname": "DurMin",
       "parameter_type": 2,
       "parameter_modmode": 0,
       "parameter_enum": [
        "any",
        "32nd",
        "16th",
        "8th",
        "quarter",
        "half",
        "whole"
       ],
       "parameter_mmax": 6,
       "parameter_initial": [
        0
       ],
       "parameter_initial_enable": 1
      }
     },
     "varname": "Dur min"
    }
   },
   {
    "box": {
     "id": "obj-21",
     "maxclass": "live.menu",
     "patching_rect": [
      560,
      150,
      60,
      15
     ],
     "presentation": 1,
     "presentation_rect": [
      232,
      80,
      56,
      15
     ],
     "numinlets": 1,
     "numoutlets": 3,
     "outlettype": [
      "",
      "",
      "float"
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Dur max",
       "parameter_shortname": "DurMax",
       "parameter_type": 2,
       "parameter_modmode": 0,
       "parameter_enum": [
        "any",
        "32nd",
        "16th",
        "8th",
        "quarter",
        "half",
        "whole"
       ],
       "parameter_mmax": 6,
       "parameter_initial": [
        0
       ],
       "parameter_initial_enable": 1
      }
     },
     "varname": "Dur max"
    }
   },
   {
    "box": {
     "id": "obj-22",
     "maxclass": "newobj",
     "patching_rect": [
      280,
      270,
      30,
      22
     ],
     "text": "- 1",
     "numinlets": 2,
     "numoutlets": 1,
     "outlettype": [
      "int"
     ]
    }
   },
   {
    "box": {
     "id": "obj-23",
     "maxclass": "newobj",
     "patching_rect": [
      280,
      300,
      120,
      22
     ],
     "text": "prepend set density",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-24",
     "maxclass": "newobj",
     "patching_rect": [
      350,
      270,
      30,
      22
     ],
     "text": "- 1",
     "numinlets": 2,
     "numoutlets": 1,
     "outlettype": [
      "int"
     ]
    }
   },
   {
    "box": {
     "id": "obj-25",
     "maxclass": "newobj",
     "patching_rect": [
      350,
      300,
      120,
      22
     ],
     "text": "prepend set polyMin",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-26",
     "maxclass": "newobj",
     "patching_rect": [
      420,
      270,
      30,
      22
     ],
     "text": "- 1",
     "numinlets": 2,
     "numoutlets": 1,
     "outlettype": [
      "int"
     ]
    }
   },
   {
    "box": {
     "id": "obj-27",
     "maxclass": "newobj",
     "patching_rect": [
      420,
      300,
      120,
      22
     ],
     "text": "prepend set polyMax",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-28",
     "maxclass": "newobj",
     "patching_rect": [
      490,
      270,
      30,
      22
     ],
     "text": "- 1",
     "numinlets": 2,
     "numoutlets": 1,
     "outlettype": [
      "int"
     ]
    }
   },
   {
    "box": {
     "id": "obj-29",
     "maxclass": "newobj",
     "patching_rect": [
      490,
      300,
      120,
      22
     ],
     "text": "prepend set durMin",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-30",
     "maxclass": "newobj",
     "patching_rect": [
      560,
      270,
      30,
      22
     ],
     "text": "- 1",
     "numinlets": 2,
     "numoutlets": 1,
     "outlettype": [
      "int"
     ]
    }
   },
   {
    "box": {
     "id": "obj-31",
     "maxclass": "newobj",
     "patching_rect": [
      560,
      300,
      120,
      22
     ],
     "text": "prepend set durMax",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-32",
     "maxclass": "live.numbox",
     "patching_rect": [
      630,
      150,
      44,
      15
     ],
     "presentation": 1,
     "presentation_rect": [
      368,
      8,
      40,
      15
     ],
     "numinlets": 1,
     "numoutlets": 2,
     "outlettype": [
      "",
      "float"
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Register low",
       "parameter_shortname": "Low",
       "parameter_type": 1,
       "parameter_modmode": 0,
       "parameter_mmin": -1,
       "parameter_mmax": 127,
       "parameter_initial": [
        -1
       ],
       "parameter_initial_enable": 1,
       "parameter_unitstyle": 0
      }
     },
     "varname": "Register low"
    }
   },
   {
    "box": {
     "id": "obj-33",
     "maxclass": "live.numbox",
     "patching_rect": [
      690,
      150,
      44,
      15
     ],
     "presentation": 1,
     "presentation_rect": [
      368,
      26,
      40,
      15
     ],
     "numinlets": 1,
     "numoutlets": 2,
     "outlettype": [
      "",
      "float"
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Register high",
       "parameter_shortname": "High",
       "parameter_type": 1,
       "parameter_modmode": 0,
       "parameter_mmin": -1,
       "parameter_mmax": 127,
       "parameter_initial": [
        -1
       ],
       "parameter_initial_enable": 1,
       "parameter_unitstyle": 0
      }
     },
     "varname": "Register high"
    }
   },
   {
    "box": {
     "id": "obj-34",
     "maxclass": "newobj",
     "patching_rect": [
      630,
      300,
      120,
      22
     ],
     "text": "prepend set pitchMin",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-35",
     "maxclass": "newobj",
     "patching_rect": [
      690,
      300,
      120,
      22
     ],
     "text": "prepend set pitchMax",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-36",
     "maxclass": "live.toggle",
     "patching_rect": [
      750,
      150,
      15,
      15
     ],
     "presentation": 1,
     "presentation_rect": [
      368,
      44,
      15,
      15
     ],
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Model velocity",
       "parameter_shortname": "Velocity",
       "parameter_type": 2,
       "parameter_modmode": 0,
       "parameter_enum": [
        "off",
        "on"
       ],
       "parameter_mmax": 1,
       "parameter_initial": [
        1
       ],
       "parameter_initial_enable": 1
      }
     },
     "varname": "Model velocity"
    }
   },
   {
    "box": {
     "id": "obj-37",
     "maxclass": "newobj",
     "patching_rect": [
      750,
      300,
      120,
      22
     ],
     "text": "prepend set velocity",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-38",
     "maxclass": "live.dial",
     "patching_rect": [
      790,
      150,
      44,
      48
     ],
     "presentation": 1,
     "presentation_rect": [
      420,
      8,
      44,
      48
     ],
     "numinlets": 1,
     "numoutlets": 2,
     "outlettype": [
      "",
      "float"
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Temperature",
       "parameter_shortname": "Temp",
       "parameter_type": 0,
       "parameter_modmode": 0,
       "parameter_mmin": 0.0,
       "parameter_mmax": 2.0,
       "parameter_initial": [
        1.0
       ],
       "parameter_initial_enable": 1,
       "parameter_unitstyle": 1
      }
     },
     "varname": "Temperature"
    }
   },
   {
    "box": {
     "id": "obj-39",
     "maxclass": "newobj",
     "patching_rect": [
      790,
      300,
      120,
      22
     ],
     "text": "prepend set temperature",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-40",
     "maxclass": "live.numbox",
     "patching_rect": [
      850,
      150,
      44,
      15
     ],
     "presentation": 1,
     "presentation_rect": [
      124,
      62,
      40,
      15
     ],
     "numinlets": 1,
     "numoutlets": 2,
     "outlettype": [
      "",
      "float"
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Variations",
       "parameter_shortname": "Vars",
       "parameter_type": 1,
       "parameter_modmode": 0,
       "parameter_mmin": 1,
       "parameter_mmax": 16,
       "parameter_initial": [
        1
       ],
       "parameter_initial_enable": 1,
       "parameter_unitstyle": 0
      }
     },
     "varname": "Variations"
    }
   },
   {
    "box": {
     "id": "obj-41",
     "maxclass": "newobj",
     "patching_rect": [
      850,
      300,
      120,
      22
     ],
     "text": "prepend set variations",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-42",
     "maxclass": "live.numbox",
     "patching_rect": [
      970,
      150,
      44,
      15
     ],
     "presentation": 1,
     "presentation_rect": [
      420,
      80,
      44,
      15
     ],
     "numinlets": 1,
     "numoutlets": 2,
     "outlettype": [
      "",
      "float"
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Server port",
       "parameter_shortname": "Port",
       "parameter_type": 1,
       "parameter_modmode": 0,
       "parameter_mmin": 1024,
       "parameter_mmax": 65535,
       "parameter_initial": [
        9000
       ],
       "parameter_initial_enable": 1,
       "parameter_unitstyle": 0
      }
     },
     "varname": "Server port"
    }
   },
   {
    "box": {
     "id": "obj-43",
     "maxclass": "newobj",
     "patching_rect": [
      970,
      300,
      120,
      22
     ],
     "text": "prepend set serverPort",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-44",
     "maxclass": "live.numbox",
     "patching_rect": [
      910,
      150,
      44,
      15
     ],
     "presentation": 1,
     "presentation_rect": [
      124,
      80,
      40,
      15
     ],
     "numinlets": 1,
     "numoutlets": 2,
     "outlettype": [
      "",
      "float"
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Show variation",
       "parameter_shortname": "Show",
       "parameter_type": 1,
       "parameter_modmode": 0,
       "parameter_mmin": 1,
       "parameter_mmax": 16,
       "parameter_initial": [
        1
       ],
       "parameter_initial_enable": 1,
       "parameter_unitstyle": 0,
       "parameter_invisible": 2
      }
     },
     "varname": "Show variation"
    }
   },
   {
    "box": {
     "id": "obj-45",
     "maxclass": "newobj",
     "patching_rect": [
      910,
      300,
      110,
      22
     ],
     "text": "prepend variation",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-46",
     "maxclass": "live.text",
     "patching_rect": [
      1040,
      150,
      60,
      20
     ],
     "presentation": 1,
     "presentation_rect": [
      8,
      70,
      64,
      20
     ],
     "numinlets": 1,
     "numoutlets": 2,
     "outlettype": [
      "",
      ""
     ],
     "mode": 0,
     "text": "Generate",
     "texton": "Generate",
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Generate",
       "parameter_shortname": "Generate",
       "parameter_type": 2,
       "parameter_modmode": 0,
       "parameter_invisible": 1,
       "parameter_enum": [
        "val1",
        "val2"
       ],
       "parameter_mmax": 1
      }
     },
     "varname": "Generate"
    }
   },
   {
    "box": {
     "id": "obj-47",
     "maxclass": "newobj",
     "patching_rect": [
      1040,
      270,
      40,
      22
     ],
     "text": "sel 1",
     "numinlets": 2,
     "numoutlets": 2,
     "outlettype": [
      "bang",
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-48",
     "maxclass": "message",
     "patching_rect": [
      1040,
      300,
      60,
      22
     ],
     "text": "generate",
     "numinlets": 2,
     "numoutlets": 1,
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-49",
     "maxclass": "live.text",
     "patching_rect": [
      1110,
      150,
      60,
      20
     ],
     "presentation": 1,
     "presentation_rect": [
      8,
      94,
      64,
      20
     ],
     "numinlets": 1,
     "numoutlets": 2,
     "outlettype": [
      "",
      ""
     ],
     "mode": 0,
     "text": "Cancel",
     "texton": "Cancel",
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Cancel",
       "parameter_shortname": "Cancel",
       "parameter_type": 2,
       "parameter_modmode": 0,
       "parameter_invisible": 1,
       "parameter_enum": [
        "val1",
        "val2"
       ],
       "parameter_mmax": 1
      }
     },
     "varname": "Cancel"
    }
   },
   {
    "box": {
     "id": "obj-50",
     "maxclass": "newobj",
     "patching_rect": [
      1110,
      270,
      40,
      22
     ],
     "text": "sel 1",
     "numinlets": 2,
     "numoutlets": 2,
     "outlettype": [
      "bang",
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-51",
     "maxclass": "message",
     "patching_rect": [
      1110,
      300,
      60,
      22
     ],
     "text": "cancel",
     "numinlets": 2,
     "numoutlets": 1,
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-52",
     "maxclass": "comment",
     "patching_rect": [
      110,
      560,
      86,
      18
     ],
     "presentation": 1,
     "presentation_rect": [
      84,
      8,
      38,
      15
     ],
     "text": "From",
     "numinlets": 1,
     "numoutlets": 0,
     "fontsize": 9.0
    }
   },
   {
    "box": {
     "id": "obj-53",
     "maxclass": "comment",
     "patching_rect": [
      200,
      580,
      86,
      18
     ],
     "presentation": 1,
     "presentation_rect": [
      84,
      26,
      38,
      15
     ],
     "text": "To",
     "numinlets": 1,
     "numoutlets": 0,
     "fontsize": 9.0
    }
   },
   {
    "box": {
     "id": "obj-54",
     "maxclass": "comment",
     "patching_rect": [
      290,
      600,
      86,
      18
     ],
     "presentation": 1,
     "presentation_rect": [
      84,
      42,
      84,
      15
     ],
     "text": "0 = clip loop",
     "numinlets": 1,
     "numoutlets": 0,
     "fontsize": 9.0
    }
   },
   {
    "box": {
     "id": "obj-55",
     "maxclass": "comment",
     "patching_rect": [
      380,
      560,
      86,
      18
     ],
     "presentation": 1,
     "presentation_rect": [
      84,
      62,
      38,
      15
     ],
     "text": "Vars",
     "numinlets": 1,
     "numoutlets": 0,
     "fontsize": 9.0
    }
   },
   {
    "box": {
     "id": "obj-56",
     "maxclass": "comment",
     "patching_rect": [
      470,
      580,
      86,
      18
     ],
     "presentation": 1,
     "presentation_rect": [
      84,
      80,
      38,
      15
     ],
     "text": "Show",
     "numinlets": 1,
     "numoutlets": 0,
     "fontsize": 9.0
    }
   },
   {
    "box": {
     "id": "obj-57",
     "maxclass": "comment",
     "patching_rect": [
      560,
      600,
      86,
      18
     ],
     "presentation": 1,
     "presentation_rect": [
      176,
      8,
      56,
      15
     ],
     "text": "Density",
     "numinlets": 1,
     "numoutlets": 0,
     "fontsize": 9.0
    }
   },
   {
    "box": {
     "id": "obj-58",
     "maxclass": "comment",
     "patching_rect": [
      650,
      560,
      86,
      18
     ],
     "presentation": 1,
     "presentation_rect": [
      176,
      26,
      56,
      15
     ],
     "text": "Poly min",
     "numinlets": 1,
     "numoutlets": 0,
     "fontsize": 9.0
    }
   },
   {
    "box": {
     "id": "obj-59",
     "maxclass": "comment",
     "patching_rect": [
      740,
      580,
      86,
      18
     ],
     "presentation": 1,
     "presentation_rect": [
      176,
      44,
      56,
      15
     ],
     "text": "Poly max",
     "numinlets": 1,
     "numoutlets": 0,
     "fontsize": 9.0
    }
   },
   {
    "box": {
     "id": "obj-60",
     "maxclass": "comment",
     "patching_rect": [
      830,
      600,
      86,
      18
     ],
     "presentation": 1,
     "presentation_rect": [
      176,
      62,
      56,
      15
     ],
     "text": "Dur min",
     "numinlets": 1,
     "numoutlets": 0,
     "fontsize": 9.0
    }
   },
   {
    "box": {
     "id": "obj-61",
     "maxclass": "comment",
     "patching_rect": [
      20,
      560,
      86,
      18
     ],
     "presentation": 1,
     "presentation_rect": [
      176,
      80,
      56,
      15
     ],
     "text": "Dur max",
     "numinlets": 1,
     "numoutlets": 0,
     "fontsize": 9.0
    }
   },
   {
    "box": {
     "id": "obj-62",
     "maxclass": "comment",
     "patching_rect": [
      110,
      580,
      86,
      18
     ],
     "presentation": 1,
     "presentation_rect": [
      300,
      8,
      66,
      15
     ],
     "text": "Low note",
     "numinlets": 1,
     "numoutlets": 0,
     "fontsize": 9.0
    }
   },
   {
    "box": {
     "id": "obj-63",
     "maxclass": "comment",
     "patching_rect": [
      200,
      600,
      86,
      18
     ],
     "presentation": 1,
     "presentation_rect": [
      300,
      26,
      66,
      15
     ],
     "text": "High note",
     "numinlets": 1,
     "numoutlets": 0,
     "fontsize": 9.0
    }
   },
   {
    "box": {
     "id": "obj-64",
     "maxclass": "comment",
     "patching_rect": [
      290,
      560,
      86,
      18
     ],
     "presentation": 1,
     "presentation_rect": [
      300,
      44,
      66,
      15
     ],
     "text": "Velocity",
     "numinlets": 1,
     "numoutlets": 0,
     "fontsize": 9.0
    }
   },
   {
    "box": {
     "id": "obj-65",
     "maxclass": "comment",
     "patching_rect": [
      380,
      580,
      86,
      18
     ],
     "presentation": 1,
     "presentation_rect": [
      300,
      62,
      66,
      15
     ],
     "text": "-1 = any",
     "numinlets": 1,
     "numoutlets": 0,
     "fontsize": 9.0
    }
   },
   {
    "box": {
     "id": "obj-66",
     "maxclass": "comment",
     "patching_rect": [
      470,
      600,
      86,
      18
     ],
     "presentation": 1,
     "presentation_rect": [
      420,
      64,
      60,
      15
     ],
     "text": "Server port",
     "numinlets": 1,
     "numoutlets": 0,
     "fontsize": 9.0
    }
   }
  ],
  "lines": [
   {
    "patchline": {
     "source": [
      "obj-1",
      0
     ],
     "destination": [
      "obj-2",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-3",
      0
     ],
     "destination": [
      "obj-4",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-4",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-5",
      0
     ],
     "destination": [
      "obj-6",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-7",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-5",
      2
     ],
     "destination": [
      "obj-7",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-5",
      1
     ],
     "destination": [
      "obj-8",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-5",
      3
     ],
     "destination": [
      "obj-9",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-9",
      0
     ],
     "destination": [
      "obj-10",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-10",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-11",
      0
     ],
     "destination": [
      "obj-12",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-12",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-13",
      0
     ],
     "destination": [
      "obj-15",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-15",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-14",
      0
     ],
     "destination": [
      "obj-16",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-16",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-17",
      0
     ],
     "destination": [
      "obj-22",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-22",
      0
     ],
     "destination": [
      "obj-23",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-23",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-18",
      0
     ],
     "destination": [
      "obj-24",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-24",
      0
     ],
     "destination": [
      "obj-25",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-25",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-19",
      0
     ],
     "destination": [
      "obj-26",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-26",
      0
     ],
     "destination": [
      "obj-27",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-27",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-20",
      0
     ],
     "destination": [
      "obj-28",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-28",
      0
     ],
     "destination": [
      "obj-29",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-29",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-21",
      0
     ],
     "destination": [
      "obj-30",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-30",
      0
     ],
     "destination": [
      "obj-31",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-31",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-32",
      0
     ],
     "destination": [
      "obj-34",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-34",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-33",
      0
     ],
     "destination": [
      "obj-35",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-35",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-36",
      0
     ],
     "destination": [
      "obj-37",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-37",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-38",
      0
     ],
     "destination": [
      "obj-39",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-39",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-40",
      0
     ],
     "destination": [
      "obj-41",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-41",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-42",
      0
     ],
     "destination": [
      "obj-43",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-43",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-44",
      0
     ],
     "destination": [
      "obj-45",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-45",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-46",
      0
     ],
     "destination": [
      "obj-47",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-47",
      0
     ],
     "destination": [
      "obj-48",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-48",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-49",
      0
     ],
     "destination": [
      "obj-50",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-50",
      0
     ],
     "destination": [
      "obj-51",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-51",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   }
  ],
  "parameters": {
   "obj-9": [
    "clientid",
    "clientid",
    0
   ],
   "obj-11": [
    "Mode",
    "Mode",
    0
   ],
   "obj-13": [
    "From bar",
    "From",
    0
   ],
   "obj-14": [
    "To bar",
    "To",
    0
   ],
   "obj-17": [
    "Density",
    "Density",
    0
   ],
   "obj-18": [
    "Poly min",
    "PolyMin",
    0
   ],
   "obj-19": [
    "Poly max",
    "PolyMax",
    0
   ],
   "obj-20": [
    "Dur min",
    "DurMin",
    0
   ],
   "obj-21": [
    "Dur max",
    "DurMax",
    0
   ],
   "obj-32": [
    "Register low",
    "Low",
    0
   ],
   "obj-33": [
    "Register high",
    "High",
    0
   ],
   "obj-36": [
    "Model velocity",
    "Velocity",
    0
   ],
   "obj-38": [
    "Temperature",
    "Temp",
    0
   ],
   "obj-40": [
    "Variations",
    "Vars",
    0
   ],
   "obj-42": [
    "Server port",
    "Port",
    0
   ],
   "obj-44": [
    "Show variation",
    "Show",
    0
   ],
   "obj-46": [
    "Generate",
    "Generate",
    0
   ],
   "obj-49": [
    "Cancel",
    "Cancel",
    0
   ],
   "inherited_shortname": 1
  },
  "dependency_cache": [
   {
    "name": "midigen.js",
    "type": "TEXT",
    "implicit": 1
   },
   {
    "name": "mg_device.js",
    "type": "TEXT",
    "implicit": 1
   },
   {
    "name": "mg_connect.js",
    "type": "TEXT",
    "implicit": 1
   },
   {
    "name": "mg_protocol.js",
    "type": "TEXT",
    "implicit": 1
   },
   {
    "name": "mg_protocol2.js",
    "type": "TEXT",
    "implicit": 1
   },
   {
    "name": "mg_notes.js",
    "type": "TEXT",
    "implicit": 1
   },
   {
    "name": "mg_stream.js",
    "type": "TEXT",
    "implicit": 1
   },
   {
    "name": "mg_live.js",
    "type": "TEXT",
    "implicit": 1
   },
   {
    "name": "mg_edit.js",
    "type": "TEXT",
    "implicit": 1
   },
   {
    "name": "mg_piece.js",
    "type": "TEXT",
    "implicit": 1
   },
   {
    "name": "mg_bars.js",
    "type": "TEXT",
    "implicit": 1
   },
   {
    "name": "mg_loop.js",
    "type": "TEXT",
    "implicit": 1
   },
   {
    "name": "mg_ports.js",
    "type": "TEXT",
    "implicit": 1
   }
  ],
  "latency": 0,
  "is_mpe": 0,
  "minimum_live_version": "",
  "minimum_max_version": "",
  "platform_compatibility": 0,
  "project": {
   "version": 1,
   "amxdtype": 1835887981,
   "readonly": 0,
   "devpathtype": 0,
   "devpath": ".",
   "sortmode": 0,
   "viewmode": 0,
   "includepackages": 0
  },
  "autosave": 0
 }
}
