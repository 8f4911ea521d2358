// Fixed reference scene for the POV-Ray benchmark: reflections, shadows and a procedural
// texture, rendered at 320×240 without anti-aliasing. Changing it changes every score.
#version 3.7;
global_settings { assumed_gamma 1.0 max_trace_level 5 }
background { color rgb <0.1, 0.12, 0.2> }
camera { location <0, 2.5, -6> look_at <0, 0.6, 0> angle 50 }
light_source { <4, 8, -5> color rgb 1 }
light_source { <-6, 4, -2> color rgb 0.4 }
plane { y, 0 pigment { checker color rgb 0.9 color rgb 0.2 } finish { reflection 0.2 } }
#declare Row = 0;
#while (Row < 3)
  #declare Column = 0;
  #while (Column < 4)
    sphere {
      <-2.25 + 1.5 * Column, 0.5, -1 + 1.5 * Row>, 0.5
      pigment { granite scale 0.4 color_map { [0 color rgb <0.8, 0.3, 0.1>] [1 color rgb <0.1, 0.4, 0.8>] } }
      finish { phong 0.8 reflection 0.3 }
    }
    #declare Column = Column + 1;
  #end
  #declare Row = Row + 1;
#end
